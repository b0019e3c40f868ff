package tui

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

func TestLine(t *testing.T) {
	var buf bytes.Buffer
	l := NewLine(&buf)
	hb := stats.HistOf(time.Millisecond, 1200*time.Microsecond)
	l.Update(stats.Sample{T: 12, Swarm: stats.Snapshot{
		Phase: stats.PhaseRamp, Target: 100000, Established: 48213, ConnectRate: 4012.4,
		Latency: map[string]stats.Hist{stats.LatHeartbeat: hb},
	}})
	l.Update(stats.Sample{T: 75, Swarm: stats.Snapshot{
		Phase: stats.PhaseHold, Target: 100000, Established: 100000, Held: 100000,
		Errors: map[string]int64{stats.ErrAddrNotAvail: 3, stats.ErrConnReset: 2},
	}, Server: &stats.Snapshot{Sessions: 99995}})
	l.Update(stats.Sample{T: 76, Swarm: stats.Snapshot{Down: true}, Server: &stats.Snapshot{Down: true}})
	l.Update(stats.Sample{T: 77, Swarm: stats.Snapshot{Phase: stats.PhaseHold, Target: 100, Established: 130, Held: 70},
		Fault: "kill-gateway:1@30s: recovering, 70 of 100 held"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"  12s ramp   held 0/100000  connects 48213  conn/s 4012  errors 0  hb p99 (last 12s) 1.2ms",
		"  75s hold   held 100000/100000  connects 100000  conn/s 0  errors 5  hb p99 (last 63s) -  server sessions 99995",
		"  76s down   held 0/0  connects 0  conn/s 0  errors 0  hb p99 (last 1s) -  server DOWN",
		"  77s hold   held 70/100  connects 130  conn/s 0  errors 0  hb p99 (last 2s) -  FAULT kill-gateway:1@30s: recovering, 70 of 100 held",
		"",
	}, "\n")
	if got := buf.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func ExampleNewLine() {
	var buf bytes.Buffer
	sink := NewLine(&buf)
	sink.Update(stats.Sample{T: 3, Swarm: stats.Snapshot{Phase: stats.PhaseRamp, Target: 1000, Established: 420, Held: 400, ConnectRate: 140}})
	fmt.Print(buf.String())
	// Output:
	//    3s ramp   held 400/1000  connects 420  conn/s 140  errors 0  hb p99 (last 3s) -
}

// The line's heartbeat p99 is the last interval's, not the run's: after a
// slow first second (180 ms) and a fast second one (26 ms) it says 26 ms.
// On the old code, which printed the cumulative p99, it said 180 ms.
func TestLineShowsTheLastInterval(t *testing.T) {
	var rec stats.Recorder
	for range 100 {
		rec.Record(180 * time.Millisecond)
	}
	var buf bytes.Buffer
	l := NewLine(&buf)
	l.Update(stats.Sample{T: 1, Swarm: stats.Snapshot{Phase: stats.PhaseHold, Latency: map[string]stats.Hist{stats.LatHeartbeat: rec.Snapshot()}}})
	for range 100 {
		rec.Record(26 * time.Millisecond)
	}
	l.Update(stats.Sample{T: 2, Swarm: stats.Snapshot{Phase: stats.PhaseHold, Latency: map[string]stats.Hist{stats.LatHeartbeat: rec.Snapshot()}}})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "hb p99 (last 1s) 180ms") || !strings.HasSuffix(lines[1], "hb p99 (last 1s) 26.2ms") {
		t.Fatalf("lines:\n%s", buf.String())
	}
}
