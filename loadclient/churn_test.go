package loadclient

import (
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

func TestParseChurn(t *testing.T) {
	for _, tc := range []struct {
		spec string
		rate float64 // per second of 100,000 connections
	}{
		{"", 0},
		{"2%/min", 2000.0 / 60},
		{" 50/s ", 50},
		{"50/sec", 50},
		{"120/min", 2},
		{"3600/h", 1},
		{"0.5%/s", 500},
		{"0/s", 0},
	} {
		ch, err := ParseChurn(tc.spec, 100000)
		if err != nil {
			t.Fatalf("ParseChurn(%q): %v", tc.spec, err)
		}
		if d := ch.Rate - tc.rate; d > 1e-9 || d < -1e-9 {
			t.Errorf("ParseChurn(%q).Rate = %g, want %g", tc.spec, ch.Rate, tc.rate)
		}
	}
	for _, bad := range []string{"2%", "50", "50/day", "x/s", "-1/s", "NaN/s", "200%/s", "1e12/s", "%/min", "2%%/min"} {
		if _, err := ParseChurn(bad, 1000); err == nil || !strings.Contains(err.Error(), "--churn") {
			t.Errorf("ParseChurn(%q) = %v, want an error naming --churn", bad, err)
		}
	}
	if err := (Churn{Rate: 1, Burst: -time.Second}).Check(); err == nil {
		t.Error("a negative burst period passed Check")
	}
}

// TestChurnDue: evenly, closes accrue with time; in bursts, a period's
// share comes at once at its end and nothing between.
func TestChurnDue(t *testing.T) {
	even := Churn{Rate: 10}
	for _, tc := range []struct {
		at   time.Duration
		want int64
	}{{0, 0}, {99 * time.Millisecond, 0}, {100 * time.Millisecond, 1}, {time.Second, 10}, {90 * time.Second, 900}} {
		if got := even.due(tc.at, even.Rate); got != tc.want {
			t.Errorf("evenly at %v: %d due, want %d", tc.at, got, tc.want)
		}
	}
	burst := Churn{Rate: 10, Burst: 5 * time.Second}
	for _, tc := range []struct {
		at   time.Duration
		want int64
	}{{4999 * time.Millisecond, 0}, {5 * time.Second, 50}, {9 * time.Second, 50}, {10 * time.Second, 100}} {
		if got := burst.due(tc.at, burst.Rate); got != tc.want {
			t.Errorf("bursts at %v: %d due, want %d", tc.at, got, tc.want)
		}
	}
}

// TestChurnRedials runs a churning swarm against a gateway on both engines
// and checks by the server's own counts: every churned connection was
// closed as --close says (RST here) and dialed again, none of it counted
// as a drop or an error, and the swarm is whole once the churn stops.
func TestChurnRedials(t *testing.T) {
	for _, eng := range engines() {
		for _, proto := range []string{ProtoIMTool, ProtoRaw} {
			t.Run(eng+"/"+proto, func(t *testing.T) { testChurnRedials(t, eng, proto) })
		}
	}
}

func testChurnRedials(t *testing.T, eng, proto string) {
	srv := newTestServer(t, 2, proto == ProtoIMTool)
	const n = 60
	ch, err := ParseChurn("200/s", n)
	if err != nil {
		t.Fatal(err)
	}
	sw, errc := startSwarm(t, Options{Targets: srv.targets(), Conns: n, Hold: time.Hour, Close: CloseRST,
		Churn: ch, Engine: eng, Proto: proto, Procs: 1})
	waitFor(t, 20*time.Second, "50 churned", func() bool { return sw.Snapshot().Churned >= 50 })
	sw.Quiet() // the churn stops with the messages
	// A snapshot reads its counters one after another, so a close in
	// between can show as counted churned but still held: wait for
	// a snapshot where every churned connection is back.
	var s stats.Snapshot
	waitFor(t, 10*time.Second, "every churned connection redialed and held", func() bool {
		s = sw.Snapshot()
		return s.Held == n && s.Established == n+s.Churned
	})
	if s.Dropped != 0 || sumErrors(s) != 0 {
		t.Fatalf("%d churned: %d dropped, errors %v; want none", s.Churned, s.Dropped, s.Errors)
	}
	waitFor(t, 5*time.Second, "the server accepted every dial", func() bool { return srv.accepted.Load() == s.Established })
	sw.Stop()
	waitRun(t, errc, 20*time.Second)
	waitFor(t, 5*time.Second, "the server sees all closed", func() bool { return srv.open.Load() == 0 })
	if got, want := srv.resets.Load(), n+s.Churned; got != want || srv.fins.Load() != 0 {
		t.Fatalf("the server saw %d resets and %d FINs, want %d resets (churned and final)", got, srv.fins.Load(), want)
	}
}

func sumErrors(s stats.Snapshot) (n int64) {
	for _, v := range s.Errors {
		n += v
	}
	return n
}
