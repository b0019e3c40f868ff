package bench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// TestBenchKillGateway runs the real `imtool bench --netns` with three
// gateway shards, SIGKILLs shard 1 during the hold, and checks from the run
// record what the recovery must be, by counts: the swarm lost exactly the
// sessions the killed shard had by its own count, the shard was started
// again and linked, every connection came back, the swarm's, the gateways'
// and the kernel's counts agree again, and every message sent was either
// ACKed or is known lost with its connection (none in flight for ever).
func TestBenchKillGateway(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a private network namespace needs root")
	}
	bin, err := rt.BuildBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "--netns", "--conns", strconv.Itoa(n), "--gateway-procs", "3",
		"--hold", "20s", "--heartbeat", "5s", "--msg-rate", "500", "--fault", "kill-gateway:1@6s",
		"--tui=false", "--out", dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imtool bench: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatalf("no run record: %v\n%s", err, out)
	}
	var rec stats.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("run.json: %v", err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	}()
	if len(rec.Faults) != 1 || len(rec.Summary.Recovery) != 1 {
		t.Fatalf("faults %+v, recovery %+v: want one of each", rec.Faults, rec.Summary.Recovery)
	}
	ev, r := rec.Faults[0], rec.Summary.Recovery[0]
	if ev.Error != "" || ev.Kind != stats.FaultKillGateway || ev.Shard != 1 || ev.PID == 0 {
		t.Fatalf("fault %+v: want gateway shard 1 killed", ev)
	}
	// SO_REUSEPORT spreads connections over three shards: about a third.
	if ev.Sessions < n/6 || ev.Sessions > n/2 {
		t.Errorf("the killed shard had %d sessions, want about %d", ev.Sessions, n/3)
	}
	if r.Dropped != ev.Sessions {
		t.Errorf("dropped %d (%v), want exactly the killed shard's %d sessions", r.Dropped, r.Drops, ev.Sessions)
	}
	if r.WholeS < 0 || r.AgreeS < 0 || r.LinkedS < 0 {
		t.Errorf("whole after %.1f s, counts agree after %.1f s, linked after %.1f s: want all within the hold", r.WholeS, r.AgreeS, r.LinkedS)
	}
	if r.Reconnects < r.Dropped {
		t.Errorf("%d reconnects for %d dropped", r.Reconnects, r.Dropped)
	}
	if len(r.Curve) > 0 {
		if p := r.Curve[len(r.Curve)-1]; r.AgreeS >= 0 && (p.Held != n || !(stats.Counts{Swarm: p.Held, Server: p.Server, Kernel: p.Kernel}).Agree()) {
			t.Errorf("at the recovery's last second: held %d, gateways %d, kernel %d; want all %d", p.Held, p.Server, p.Kernel, n)
		}
	}
	s := rec.Summary
	if !rec.Complete || s.Held != n || s.Dropped != r.Dropped {
		t.Errorf("complete=%v, held %d of %d at the end, %d dropped in all (%d by the fault)", rec.Complete, s.Held, n, s.Dropped, r.Dropped)
	}
	last := rec.Series[len(rec.Series)-1].Swarm
	if last.Sent == 0 || last.Sent != last.Acked+last.Acks["lost"] {
		t.Errorf("messages: %d sent, %d acked, %d lost with their connection: want every one sent acked or lost", last.Sent, last.Acked, last.Acks["lost"])
	}
	if td := rec.Teardown; td == nil || td.ProcessesLeft != 0 {
		t.Errorf("teardown %+v: want every process gone", td)
	}
}
