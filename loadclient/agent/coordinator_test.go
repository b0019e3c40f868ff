package agent_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
	"github.com/imtool/imtool/loadclient/agent/agenttest"
)

// TestCoordinatorMergesPercentiles: the merged latency percentiles are those of
// all raw samples of both hosts (histograms merge), not an average of each
// host's percentiles; a host that goes away is lost within 3s and its
// connections leave the total.
func TestCoordinatorMergesPercentiles(t *testing.T) {
	a := agenttest.Durations(100*time.Microsecond, 2*time.Millisecond, time.Microsecond)     // 1901 fast samples
	b := agenttest.Durations(40*time.Millisecond, 50*time.Millisecond, 100*time.Microsecond) // 101 slow ones
	srvA, srvB := agenttest.Serve(t, 15, a), agenttest.Serve(t, 15, b)
	o := loadclient.DefaultOptions()
	o.Targets, o.Conns = []string{"127.0.0.1:9000"}, 30
	ag, err := agent.Coordinate(o, []string{srvA.URL, srvB.URL}, agenttest.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Begin(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	s := ag.Snapshot()
	for s.Held != 30 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		s = ag.Snapshot()
	}
	if s.Held != 30 || len(s.Shards) != 2 || s.Shards[0].ID != srvA.URL || s.Shards[1].ID != srvB.URL || s.Phase != stats.PhaseHold {
		t.Fatalf("merged: held %d, phase %s, %d parts", s.Held, s.Phase, len(s.Shards))
	}

	all := slices.Concat(a, b)
	slices.Sort(all)
	want := stats.HistOf(all...)
	got := s.Latency[stats.LatLogin]
	if got.Count != int64(len(all)) || got.Max != int64(all[len(all)-1]) {
		t.Fatalf("merged histogram: count %d max %d", got.Count, got.Max)
	}
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		raw := all[int(math.Ceil(q*float64(len(all))))-1] // the exact percentile of the raw samples
		if got.Quantile(q) != want.Quantile(q) || math.Abs(float64(got.Quantile(q)-raw)) > 0.016*float64(raw) {
			t.Errorf("p%g: merged %v, all samples %v (raw %v)", q*100, got.Quantile(q), want.Quantile(q), raw)
		}
	}
	avg := (stats.HistOf(a...).Quantile(0.99) + stats.HistOf(b...).Quantile(0.99)) / 2
	if p99 := got.Quantile(0.99); math.Abs(float64(p99-avg)) < 0.1*float64(p99) {
		t.Errorf("p99 %v is the average of the hosts' p99s %v: percentiles must not be averaged", p99, avg)
	}

	// Host B goes away: lost within 3s, its connections leave the total.
	srvB.CloseClientConnections()
	srvB.Close()
	lostAt := time.Now()
	for !ag.Snapshot().Shards[1].Down {
		if time.Since(lostAt) > 3*time.Second {
			t.Fatal("a vanished agent was not marked lost within 3s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s = ag.Snapshot()
	if s.Held != 15 || s.Dropped != 15 || s.Drops[agent.DropLost] != 15 || s.Ports["9000"] != 15 || s.Shards[1].Held != 15 || s.Phase != stats.PhaseHold {
		t.Fatalf("after the loss: held %d dropped %d drops %v ports %v, lost part held %d, phase %s", s.Held, s.Dropped, s.Drops, s.Ports, s.Shards[1].Held, s.Phase)
	}
	t.Logf("lost after %v", time.Since(lostAt).Round(time.Millisecond))
	ag.Command(lifecycle.Stop)
	select {
	case <-ag.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the run on the remaining agent did not end")
	}
	if err := ag.Err(); err != nil {
		t.Fatalf("err: %v", err)
	}
	res := ag.Results()
	if res[0].State != agent.HostDone || res[1].State != agent.HostLost || res[1].Held != 15 || res[1].UIDs != [2]uint64{16, 30} {
		t.Fatalf("results %+v", res)
	}
}
