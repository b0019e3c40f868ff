package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// stormSeries is a hold of 1,000 connections over two gateway shards in
// which shard 1 (400 sessions) is killed at 2.5 s: the swarm sees the drop
// at 3 s, 300 are back at 4 s and all at 5 s; the restarted shard links at
// 4 s and the kernel lags the swarm by a second. Redials take 20 ms to
// connect, heartbeats 500 ms during the storm.
func stormSeries() []stats.Sample {
	var connect, hb stats.Recorder
	var out []stats.Sample
	type sec struct {
		held, est, dropped, kernel, server int64
		linked                             bool
		refused                            int64
	}
	secs := []sec{
		{0, 0, 0, 0, 0, true, 0}, // baseline
		{1000, 1000, 0, 1000, 1000, true, 0},
		{1000, 1000, 0, 1000, 1000, true, 0},
		{600, 1000, 400, 1000, 600, false, 5},
		{900, 1300, 400, 600, 900, true, 5},
		{1000, 1400, 400, 900, 1000, true, 5},
		{1000, 1400, 400, 1000, 1000, true, 5},
		{1000, 1400, 400, 1000, 1000, true, 5},
	}
	for i, s := range secs {
		if i == 4 || i == 5 {
			for j := 0; j < 100; j++ {
				connect.Record(20 * time.Millisecond)
				hb.Record(500 * time.Millisecond)
			}
		} else if i > 0 {
			for j := 0; j < 100; j++ {
				connect.Record(time.Millisecond)
				hb.Record(time.Millisecond)
			}
		}
		disp := &stats.Snapshot{Kind: stats.KindDispatcher, Gateways: 2}
		srv := &stats.Snapshot{Kind: stats.KindGateway, Sessions: s.server, Shards: []stats.Snapshot{{Dispatcher: "up"}, {Dispatcher: "up"}}}
		if !s.linked {
			srv.Shards[1].Dispatcher = "down"
			disp.Gateways = 1
		}
		phase := stats.PhaseHold
		if i == 0 {
			phase = stats.PhasePlan
		}
		out = append(out, stats.Sample{
			T: float64(i), Server: srv, Dispatcher: disp, Host: &stats.Host{TCPInUse: 50 + 2*s.kernel},
			Swarm: stats.Snapshot{Phase: phase, Held: s.held, Established: s.est, Dropped: s.dropped,
				Drops:   map[string]int64{"server_close": s.dropped},
				Errors:  map[string]int64{stats.ErrConnRefused: s.refused},
				Latency: map[string]stats.Hist{stats.LatConnect: connect.Snapshot(), stats.LatHeartbeat: hb.Snapshot()}},
		})
	}
	return out
}

func TestRecoveryFromSamples(t *testing.T) {
	rec := &stats.Record{Command: "bench", Series: stormSeries(), Faults: []stats.FaultEvent{
		{Spec: "kill-gateway:1@1.5s", Kind: stats.FaultKillGateway, Shard: 1, T: 2.5, Sessions: 400},
		{Spec: "kill-gateway:0@9s", Kind: stats.FaultKillGateway, T: 9, Error: "gateway shard 0 is not running"},
	}}
	rs := Summarize(rec).Recovery
	if len(rs) != 1 {
		t.Fatalf("%d recoveries, want 1 (the failed fault has none): %+v", len(rs), rs)
	}
	r := rs[0]
	if r.HeldBefore != 1000 || r.Dropped != 400 || r.Drops["server_close"] != 400 || r.LowestHeld != 600 {
		t.Errorf("before %d, dropped %d %v, lowest %d; want 1000, 400 server_close, 600", r.HeldBefore, r.Dropped, r.Drops, r.LowestHeld)
	}
	// whole at 5 s, counts agree at 6 s (the kernel lags), linked at 4 s.
	if r.WholeS != 2.5 || r.AgreeS != 3.5 || r.LinkedS != 1.5 {
		t.Errorf("whole %.1f, agree %.1f, linked %.1f s after; want 2.5, 3.5, 1.5", r.WholeS, r.AgreeS, r.LinkedS)
	}
	if r.Reconnects != 400 || r.PeakRate != 300 {
		t.Errorf("reconnects %d peak %.0f/s; want 400, 300/s", r.Reconnects, r.PeakRate)
	}
	if r.Errors[stats.ErrConnRefused] != 5 || len(r.Errors) != 1 {
		t.Errorf("errors during the storm %v; want 5 refused", r.Errors)
	}
	if len(r.Curve) != 5 || r.Curve[0].T != -0.5 || r.Curve[2].Held != 900 || r.Curve[2].Established != 300 || r.Curve[1].Kernel != 1000 {
		t.Errorf("curve %+v: want the samples from 2 s to 6 s", r.Curve)
	}
	// Latency during the storm is the storm's alone: the 20 ms connects and
	// 500 ms heartbeats of seconds 4 and 5, plus the 1 ms of seconds 3 and 6.
	if l := r.Latency[stats.LatHeartbeat]; l.Count != 400 || l.P90 < 0.4 || l.Mean < 0.2 {
		t.Errorf("heartbeat during the storm %+v: want 400 samples, half of them 500 ms", l)
	}
	if l := r.LatencyBefore[stats.LatHeartbeat]; l.Count != 100 || l.P99 > 0.002 {
		t.Errorf("heartbeat before the fault %+v: want the 100 of second 2 at 1 ms", l)
	}
	var b strings.Builder
	rec.Summary = Summarize(rec)
	if err := Text(&b, rec); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kill-gateway:0@9s: gateway shard 0 is not running", "kill-gateway:1@1.5s", "dropped 400", "whole again after 2.5 s", "agree after 3.5 s", "peak 300/s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// A fault the run never recovers from says so (-1), with the storm's
// figures up to the end of the hold.
func TestRecoveryNever(t *testing.T) {
	series := stormSeries()[:4]
	rec := &stats.Record{Command: "bench", Series: series, Faults: []stats.FaultEvent{{Spec: "kill-gateway:1@1.5s", Kind: stats.FaultKillGateway, T: 2.5}}}
	r := Summarize(rec).Recovery[0]
	if r.WholeS != -1 || r.AgreeS != -1 || r.LinkedS != -1 || r.Dropped != 400 {
		t.Errorf("%+v: want never whole, agreed or linked, 400 dropped", r)
	}
}
