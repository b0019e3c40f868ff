package shard

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// TestMain doubles as the shard child: started by a Group it publishes a
// snapshot every 10 ms until told to stop or its parent goes away.
func TestMain(m *testing.M) {
	if link, ok := Child(); ok {
		tick := time.NewTicker(10 * time.Millisecond)
		for {
			select {
			case cmd, open := <-link.Commands:
				if !open || cmd == "stop" {
					os.Exit(0)
				}
			case <-tick.C:
				link.Publish(stats.Snapshot{Kind: stats.KindSwarm, Established: int64(link.Index + 1)})
			}
		}
	}
	os.Exit(m.Run())
}

func startGroup(t *testing.T, n int) *Group {
	t.Helper()
	g, err := Start(Spec{Name: "test", N: n, Args: func(int) []string { return []string{"-test.run=^$"} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Signal(os.Kill); g.Wait() })
	return g
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGroupMergesAndStops(t *testing.T) {
	g := startGroup(t, 3)
	waitFor(t, "three snapshots", func() bool {
		return stats.Merge(stats.KindSwarm, "", g.Snapshots()).Established == 1+2+3
	})
	g.Send("stop")
	if err := g.Wait(); err != nil {
		t.Fatalf("clean stop reported %v", err)
	}
}

func TestKilledChildIsReported(t *testing.T) {
	g := startGroup(t, 2)
	waitFor(t, "snapshots", func() bool { return stats.Merge(stats.KindSwarm, "", g.Snapshots()).Established == 3 })
	victim := g.PIDs()[1]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-g.Exits():
		if e.Index != 1 || e.PID != victim || e.Err == nil {
			t.Fatalf("exit %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported")
	}
	snaps := g.Snapshots()
	if !snaps[1].Down || snaps[1].Established != 2 || snaps[0].Down {
		t.Fatalf("snapshots after kill: %+v", snaps)
	}
	g.Send("stop")
	if err := g.Wait(); err == nil {
		t.Fatal("Wait did not report the killed shard")
	}
}

func TestStartFailure(t *testing.T) {
	_, err := Start(Spec{Name: "test", N: 1, Exe: "/nonexistent/imtool", Args: func(int) []string { return nil }})
	if err == nil {
		t.Fatal("started a missing binary")
	}
}

// TestRestartReplacesAKilledChild: a killed shard is started again in its
// slot (new pid, same index, its snapshots back), a running one is not,
// and the group then stops cleanly.
func TestRestartReplacesAKilledChild(t *testing.T) {
	g := startGroup(t, 2)
	waitFor(t, "snapshots", func() bool { return stats.Merge(stats.KindSwarm, "", g.Snapshots()).Established == 3 })
	if err := g.Restart(1); err == nil {
		t.Fatal("Restart replaced a running shard")
	}
	if err := g.Restart(2); err == nil {
		t.Fatal("Restart took a shard index the group does not have")
	}
	victim := g.PIDs()[1]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := <-g.Exits(); e.Index != 1 || e.Err == nil {
		t.Fatalf("exit %+v", e)
	}
	if err := g.Restart(1); err != nil {
		t.Fatal(err)
	}
	if pid := g.PIDs()[1]; pid == victim {
		t.Fatalf("shard 1 still has the killed pid %d", pid)
	}
	waitFor(t, "the restarted shard's snapshot", func() bool {
		s := g.Snapshots()
		return !s[1].Down && s[1].Established == 2 && stats.Merge(stats.KindSwarm, "", s).Established == 3
	})
	g.Send("stop")
	if err := g.Wait(); err != nil {
		t.Fatalf("stop after a restart reported %v", err)
	}
}
