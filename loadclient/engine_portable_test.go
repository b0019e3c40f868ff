package loadclient

import (
	"runtime"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// A held connection of the portable engine is one goroutine, its reader:
// heartbeats are a timer per connection. With n connections held and
// beating every 300 ms against an in-process gateway (a goroutine per
// connection of its own), the process has about 2n more goroutines, not 3n;
// every beat but the last ones in flight is answered and timed; once the
// run is over no timer beats on.
func TestPortableHeldConnIsOneGoroutine(t *testing.T) {
	srv := newTestServer(t, 2, true)
	const n = 300
	before := runtime.NumGoroutine()
	sw, errc := startSwarm(t, Options{Targets: srv.targets(), Conns: n, Rate: 5000, Heartbeat: 300 * time.Millisecond,
		Hold: 2 * time.Second, Engine: EnginePortable, Procs: 1})
	waitFor(t, 10*time.Second, "all held", func() bool { return sw.Snapshot().Held == n })
	time.Sleep(400 * time.Millisecond) // heartbeats under way
	if extra := runtime.NumGoroutine() - before; extra > 2*n+n/2 {
		t.Fatalf("%d more goroutines with %d connections held: want about %d (a reader per connection and the server's own), not a heartbeat goroutine each", extra, n, 2*n)
	}
	waitRun(t, errc, 20*time.Second)
	s := sw.Snapshot()
	if len(s.Errors) != 0 || s.Dropped != 0 {
		t.Fatalf("errors %v dropped %d", s.Errors, s.Dropped)
	}
	// At the close, up to two PINGs a connection may still be on their way
	// (under -race on a loaded host).
	if s.Pings < n*4 || s.Pongs < s.Pings-2*n || s.Latency[stats.LatHeartbeat].Count != s.Pongs {
		t.Fatalf("pings %d pongs %d (timed %d): want ≥ %d pings, all but the last answered and timed", s.Pings, s.Pongs, s.Latency[stats.LatHeartbeat].Count, n*4)
	}
	time.Sleep(300 * time.Millisecond)
	if after := sw.Snapshot().Pings; after != s.Pings {
		t.Fatalf("%d heartbeats after the run ended", after-s.Pings)
	}
}
