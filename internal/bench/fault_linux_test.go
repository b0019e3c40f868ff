package bench

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
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
	const n = 20000
	rec, out := runBench(t, 4*time.Minute, "--netns", "--conns", strconv.Itoa(n), "--gateway-procs", "3",
		"--hold", "20s", "--heartbeat", "5s", "--msg-rate", "500", "--fault", "kill-gateway:1@6s")
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

// TestBenchKillGatewayAutoShards is the storm as a user first meets it:
// the shards planned by themselves (--gateway-procs auto), one killed with
// its ~10,000 clients. They redial into the others, whose room the plan
// kept (N+1): every client is back within 5 s, none turned away as server
// full. The gateways' own sessions and the kernel's count are the
// observers of "whole" (the recovery's counts).
func TestBenchKillGatewayAutoShards(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a private network namespace needs root")
	}
	const n = 30000
	rec, out := runBench(t, 4*time.Minute, "--netns", "--conns", strconv.Itoa(n), "--hold", "25s", "--reconnect",
		"--fault", "kill-gateway:1@8s")
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	}()
	if len(rec.Faults) != 1 || len(rec.Summary.Recovery) != 1 {
		t.Fatalf("faults %+v, recovery %+v: want one of each", rec.Faults, rec.Summary.Recovery)
	}
	ev, r, s := rec.Faults[0], rec.Summary.Recovery[0], rec.Summary
	if ev.Error != "" || ev.Sessions == 0 {
		t.Fatalf("fault %+v: want gateway shard 1 killed with its sessions", ev)
	}
	if s.Errors[stats.ErrServerFull] != 0 || s.Held != n || !rec.Complete {
		t.Errorf("held %d of %d, errors %v: want all back, none refused as server full", s.Held, n, s.Errors)
	}
	if r.WholeS < 0 || r.WholeS > 5 || r.AgreeS < 0 {
		t.Errorf("whole again %.1f s after the kill (counts agree after %.1f s): want within 5 s", r.WholeS, r.AgreeS)
	}
	t.Logf("killed shard had %d sessions; whole again after %.2f s, counts agree after %.2f s; %d reconnects", ev.Sessions, r.WholeS, r.AgreeS, r.Reconnects)
}

// TestBenchDispatcherAndStopFaults kills the dispatcher, then stops a
// gateway shard for two seconds, and checks that neither dropped a client
// connection, that the dispatcher was started again and every gateway
// linked to it, that the stopped shard came back, and that every message
// was ACKed (offline or route_unavailable while a route was missing) or
// lost with a connection: none unanswered.
func TestBenchDispatcherAndStopFaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a private network namespace needs root")
	}
	const n = 4000
	rec, out := runBench(t, 3*time.Minute, "--netns", "--conns", strconv.Itoa(n), "--gateway-procs", "2",
		"--hold", "16s", "--heartbeat", "2s", "--msg-rate", "300",
		"--fault", "kill-dispatcher@3s", "--fault", "stop-gateway:0@9s+2s")
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	}()
	if len(rec.Faults) != 2 || len(rec.Summary.Recovery) != 2 {
		t.Fatalf("faults %+v, recovery %+v: want two of each", rec.Faults, rec.Summary.Recovery)
	}
	for i, ev := range rec.Faults {
		r := rec.Summary.Recovery[i]
		if ev.Error != "" || ev.PID == 0 {
			t.Errorf("fault %+v was not applied", ev)
		}
		if r.Dropped != 0 || r.WholeS < 0 || r.LinkedS < 0 {
			t.Errorf("%s: %d dropped, whole after %.1f s, linked after %.1f s: want none dropped, linked again", r.Spec, r.Dropped, r.WholeS, r.LinkedS)
		}
	}
	if stop := rec.Faults[1]; stop.EndT-stop.T < 1.9 {
		t.Errorf("the shard was stopped from %.2f s to %.2f s, want 2 s", stop.T, stop.EndT)
	}
	s := rec.Summary
	last := rec.Series[len(rec.Series)-1].Swarm
	if !rec.Complete || s.Held != n || s.Dropped != 0 {
		t.Errorf("complete=%v, held %d of %d, %d dropped", rec.Complete, s.Held, n, s.Dropped)
	}
	if last.Sent == 0 || last.Sent != last.Acked+last.Acks["lost"] {
		t.Errorf("messages: %d sent, %d acked, %d lost: want every one acked or lost", last.Sent, last.Acked, last.Acks["lost"])
	}
	if td := rec.Teardown; td == nil || td.ProcessesLeft != 0 || td.Errors != "" {
		t.Errorf("teardown %+v: want every process gone, stopped cleanly", td)
	}
}
