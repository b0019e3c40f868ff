package bench

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// countsConns is the size of TestBenchCounts. `go test ./...` runs it small
// beside the other packages; the README's test command runs it again alone
// at 100,000 (-args -counts-conns=100000), the scaled-down million.
var countsConns = flag.Int("counts-conns", 10000, "connections TestBenchCounts holds")

// countsProto is the protocol of TestBenchCounts: -counts-proto=ws runs the
// same rules over WebSocket (the gateway on --ws-ports).
var countsProto = flag.String("counts-proto", "imtool", "protocol of TestBenchCounts: imtool or ws")

// TestBenchCounts runs the real `imtool bench --netns`, in a network
// namespace of its own where every TCP socket is the run's, and checks the
// rules of the million-connection run by counts, not timings: every connection
// established, logged in and held with none dropped; the swarm's held, the
// gateways' merged sessions and the kernel's socket count agree within
// 0.1%; and every process the bench started is gone afterwards.
func TestBenchCounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a private network namespace needs root")
	}
	n := *countsConns
	// --netns: the bench runs again in a namespace of its own; killed, the
	// outer process takes it along (parent-death signal), and its services
	// with it.
	rec, out := runBench(t, 5*time.Minute, "--netns", "--proto", *countsProto, "--conns", strconv.Itoa(n), "--hold", "10s")
	if !strings.Contains(string(out), "in a network namespace of its own") {
		t.Errorf("the bench did not say it ran in its own namespace:\n%s", out)
	}
	s := rec.Summary
	if !rec.Complete || s.Held != int64(n) || s.Dropped != 0 {
		t.Errorf("complete=%v, held %d of %d, %d dropped (%v); want all held, none dropped", rec.Complete, s.Held, n, s.Dropped, s.Drops)
	}
	if rd := rec.RawDial; rd == nil || rd.Conns != min(n, rawDialConns) || rd.Failed != 0 || rd.Rate <= 0 {
		t.Errorf("raw dialer %+v: want %d connections measured, none failed", rd, min(n, rawDialConns))
	}
	switch c := s.Counts; {
	case c == nil:
		t.Error("the record has no independent counts")
	case c.Swarm != int64(n) || !c.Agree():
		t.Errorf("counts at %.0f s: swarm %d, gateways %d, kernel %d (spread %.3f%%); want all %d within %.1f%%",
			c.T, c.Swarm, c.Server, c.Kernel, 100*c.Spread(), n, 100*stats.CountsTolerance)
	}
	if s.Pongs == 0 {
		t.Error("no heartbeat was answered")
	}
	switch td := rec.Teardown; {
	case td == nil:
		t.Error("the record has no teardown")
	case td.ProcessesLeft != 0 || td.Errors != "":
		t.Errorf("teardown: %d of %d processes left, errors %q", td.ProcessesLeft, td.ProcessesStarted, td.Errors)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
