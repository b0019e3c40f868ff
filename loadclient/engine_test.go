package loadclient

import (
	"context"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// engines are the engines this OS has, for subtests over both.
func engines() []string {
	if runtime.GOOS == "linux" {
		return []string{EngineEpoll, EnginePortable}
	}
	return []string{EnginePortable}
}

// startSwarm builds and runs a swarm; it is stopped at cleanup and must end
// within the test's bound.
func startSwarm(t *testing.T, o Options) (*Swarm, <-chan error) {
	t.Helper()
	sw, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	go func() { errc <- sw.Run(ctx) }()
	t.Cleanup(func() {
		sw.Stop()
		select {
		case <-sw.Done():
		case <-time.After(20 * time.Second):
			t.Error("swarm did not stop within 20s")
		}
		cancel()
	})
	return sw, errc
}

func waitRun(t *testing.T, errc <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Run did not return within %v", d)
	}
}

func TestHoldRawExactCounts(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			srv := newTestServer(t, 5, false)
			const n = 300
			sw, errc := startSwarm(t, Options{Targets: srv.targets(), Conns: n, Rate: 5000, Proto: ProtoRaw,
				Hold: time.Hour, Engine: eng, Loops: 2, Procs: 1})
			waitFor(t, 10*time.Second, "all held", func() bool { return sw.Snapshot().Held == n })
			waitFor(t, 5*time.Second, "server sees all", func() bool { return srv.open.Load() == n })
			waitFor(t, 2*time.Second, "hold phase", func() bool { return sw.Phase() == stats.PhaseHold })
			s := sw.Snapshot()
			if s.Established != n || s.Attempts != n || s.Dropped != 0 || len(s.Errors) != 0 {
				t.Fatalf("established %d attempts %d dropped %d errors %v, want %d/%d/0/none", s.Established, s.Attempts, s.Dropped, s.Errors, n, n)
			}
			var perPort int64
			for _, v := range s.Ports {
				perPort += v
			}
			if len(s.Ports) != 5 || perPort != n {
				t.Fatalf("ports %v: want 5 ports summing to %d", s.Ports, n)
			}
			sw.Stop()
			waitRun(t, errc, 10*time.Second)
			if h := sw.HeldAtEnd(); h != n {
				t.Fatalf("held at end %d, want %d", h, n)
			}
			waitFor(t, 5*time.Second, "server sees all closed", func() bool { return srv.open.Load() == 0 })
			if srv.fins.Load() != n {
				t.Fatalf("server saw %d FINs and %d resets, want %d FINs", srv.fins.Load(), srv.resets.Load(), n)
			}
			if got := sw.Snapshot(); got.Held != 0 || got.Phase != stats.PhaseDone {
				t.Fatalf("after Run: held %d phase %s", got.Held, got.Phase)
			}
		})
	}
}

func TestCloseRST(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			srv := newTestServer(t, 2, false)
			const n = 50
			sw, errc := startSwarm(t, Options{Targets: srv.targets(), Conns: n, Proto: ProtoRaw,
				Hold: 200 * time.Millisecond, Close: CloseRST, Engine: eng, Procs: 1})
			waitRun(t, errc, 15*time.Second)
			if h := sw.HeldAtEnd(); h != n {
				t.Fatalf("held at end %d, want %d", h, n)
			}
			waitFor(t, 5*time.Second, "server sees all closed", func() bool { return srv.open.Load() == 0 })
			if srv.resets.Load() != n {
				t.Fatalf("server saw %d resets and %d FINs, want %d resets", srv.resets.Load(), srv.fins.Load(), n)
			}
		})
	}
}

func TestReadsDrained(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			// far more than socket buffers: the server blocks unless the client reads
			srv := newTestServer(t, 1, false, func(s *testServer) { s.pushBytes = 4 << 20 })
			const n = 4
			sw, _ := startSwarm(t, Options{Targets: srv.targets(), Conns: n, Proto: ProtoRaw, Hold: time.Hour, Engine: eng, Procs: 1})
			waitFor(t, 20*time.Second, "all pushed bytes read", func() bool { return sw.Snapshot().BytesIn == n*4<<20 })
		})
	}
}

func TestReconnectAfterServerClose(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			srv := newTestServer(t, 2, false)
			const n = 40
			sw, _ := startSwarm(t, Options{Targets: srv.targets(), Conns: n, Proto: ProtoRaw, Hold: time.Hour,
				Reconnect: true, Engine: eng, Procs: 1})
			waitFor(t, 10*time.Second, "all held", func() bool { return sw.Snapshot().Held == n })
			waitFor(t, 5*time.Second, "server accepted all", func() bool { return srv.open.Load() == n })
			srv.dropAll()
			waitFor(t, 10*time.Second, "drops counted", func() bool { return sw.Snapshot().Dropped == n })
			waitFor(t, 15*time.Second, "all held again", func() bool { return sw.Snapshot().Held == n })
			s := sw.Snapshot()
			if s.Drops["server_close"] != n || s.Established != 2*n {
				t.Fatalf("drops %v established %d, want server_close %d and %d established", s.Drops, s.Established, n, 2*n)
			}
		})
	}
}

func TestConnRefused(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			const n = 20
			sw, errc := startSwarm(t, Options{Targets: []string{"127.0.0.1:" + strconv.Itoa(port)}, Conns: n,
				Proto: ProtoRaw, Hold: time.Millisecond, Engine: eng, Procs: 1})
			waitRun(t, errc, 10*time.Second)
			s := sw.Snapshot()
			if s.Errors[stats.ErrConnRefused] != n || s.Established != 0 {
				t.Fatalf("errors %v established %d, want %d econnrefused", s.Errors, s.Established, n)
			}
			if ex := s.ErrorExample[stats.ErrConnRefused]; !strings.Contains(ex, strconv.Itoa(port)) || !strings.Contains(strings.ToLower(ex), "refused") {
				t.Fatalf("example %q should name the port and the error", ex)
			}
			by := sw.ErrorsBy()
			if len(by) != 1 || by[0].N != n || by[0].Where != "port "+strconv.Itoa(port) {
				t.Fatalf("errors by port: %+v", by)
			}
		})
	}
}

func TestIMToolProtocol(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			srv := newTestServer(t, 3, true, func(s *testServer) { s.secret = []byte("s3cret") })
			const n = 200
			sw, errc := startSwarm(t, Options{Targets: srv.targets(), Conns: n, Rate: 4000, AuthSecret: srv.secret,
				Heartbeat: 100 * time.Millisecond, MsgRate: 400, Hold: 1500 * time.Millisecond, Engine: eng, Procs: 1, UIDBase: 1000})
			waitFor(t, 10*time.Second, "all logged in", func() bool { return sw.Snapshot().Held == n })
			if got := srv.sessionsNow(); got != n {
				t.Fatalf("server sessions %d, want %d", got, n)
			}
			// Until it sees quiet, a loop with messages to send counts as
			// sending, and a snapshot saying so is not drained.
			if s := sw.Snapshot(); s.Sending == 0 || Drained(s) {
				t.Fatalf("before quiet: %d loops sending, drained %v", s.Sending, Drained(s))
			}
			waitRun(t, errc, 20*time.Second)
			s := sw.Snapshot()
			if len(s.Errors) != 0 || s.Dropped != 0 {
				t.Fatalf("errors %v dropped %d", s.Errors, s.Dropped)
			}
			if s.Sending != 0 {
				t.Fatalf("after the run %d loops still count as sending", s.Sending)
			}
			if s.Pings < n*10 || s.Pongs < s.Pings-n {
				t.Fatalf("pings %d pongs %d: want ≥ %d pings, all but the last answered", s.Pings, s.Pongs, n*10)
			}
			if s.Sent < 400 {
				t.Fatalf("sent %d, want about 600", s.Sent)
			}
			if s.Acked != s.Sent || s.Acks[AckLost] != 0 {
				t.Fatalf("sent %d acked %d acks %v: every SEND must be ACKed", s.Sent, s.Acked, s.Acks)
			}
			if s.Delivered != s.Acks["delivered"] || s.Delivered == 0 {
				t.Fatalf("delivered %d, ACKed delivered %d", s.Delivered, s.Acks["delivered"])
			}
			for _, name := range []string{stats.LatConnect, stats.LatLogin, stats.LatHeartbeat, stats.LatAck, stats.LatDeliver, stats.LatLag} {
				if s.Latency[name].Count == 0 {
					t.Errorf("no %s latency samples", name)
				}
			}
		})
	}
}

func TestLoginRejected(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			srv := newTestServer(t, 1, true, func(s *testServer) { s.secret = []byte("right") })
			const n = 10
			sw, errc := startSwarm(t, Options{Targets: srv.targets(), Conns: n, AuthSecret: []byte("wrong"),
				Hold: time.Millisecond, Engine: eng, Procs: 1})
			waitRun(t, errc, 10*time.Second)
			s := sw.Snapshot()
			if s.Errors[stats.ErrLoginRejected] != n || s.Held != 0 {
				t.Fatalf("errors %v, want %d login_rejected", s.Errors, n)
			}
		})
	}
}

func TestPauseAndStopIdempotent(t *testing.T) {
	srv := newTestServer(t, 1, false)
	sw, errc := startSwarm(t, Options{Targets: srv.targets(), Conns: 100, Rate: 200, Proto: ProtoRaw, Hold: time.Hour, Procs: 1})
	waitFor(t, 5*time.Second, "some held", func() bool { return sw.Snapshot().Held >= 10 })
	sw.Pause(true)
	time.Sleep(50 * time.Millisecond)
	h := sw.Snapshot().Held
	time.Sleep(200 * time.Millisecond)
	if got := sw.Snapshot(); got.Held != h || !got.Paused {
		t.Fatalf("paused ramp went on: %d → %d (paused %v)", h, got.Held, got.Paused)
	}
	sw.Pause(false)
	waitFor(t, 5*time.Second, "ramp resumed", func() bool { return sw.Snapshot().Held > h })
	sw.Stop()
	sw.Stop()
	waitRun(t, errc, 10*time.Second)
	sw.Stop()
}

// TestWindowCountsLogins: a server that accepts but never answers LOGIN
// gets --max-inflight connections and no more, until logins time out.
func TestWindowCountsLogins(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			srv := newTestServer(t, 2, false)
			const window = 8
			sw, _ := startSwarm(t, Options{Targets: srv.targets(), Conns: 100, Rate: 10000, MaxInflight: window,
				LoginTimeout: time.Minute, Hold: time.Hour, Engine: eng, Loops: 1, Procs: 1})
			waitFor(t, 5*time.Second, "the window's connections accepted", func() bool { return srv.accepted.Load() >= window })
			time.Sleep(300 * time.Millisecond) // the ramp's pacer has had 3,000 connections due by now
			if s := sw.Snapshot(); s.Attempts != window || srv.accepted.Load() != window || s.Held != 0 {
				t.Fatalf("attempts %d, accepted %d, held %d: want %d, %d, 0 (logins pending count in the window)",
					s.Attempts, srv.accepted.Load(), s.Held, window, window)
			}
		})
	}
}
