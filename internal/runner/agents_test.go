package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
)

// fakeSlice is an agent's run that holds n connections at once and has
// recorded the given login latencies.
type fakeSlice struct {
	n    int64
	lat  stats.Hist
	mu   sync.Mutex
	done chan struct{}
	once sync.Once
}

func (f *fakeSlice) snap(phase string) stats.Snapshot {
	return stats.Snapshot{Kind: stats.KindSwarm, Phase: phase, Target: f.n, Established: f.n, Held: f.n, Connections: f.n,
		Ports: map[string]int64{"9000": f.n}, Latency: map[string]stats.Hist{stats.LatLogin: f.lat}}
}
func (f *fakeSlice) Baseline() stats.Snapshot {
	return stats.Snapshot{Kind: stats.KindSwarm, Phase: stats.PhasePlan}
}
func (f *fakeSlice) Snapshot() stats.Snapshot { return f.snap(stats.PhaseHold) }
func (f *fakeSlice) Final() stats.Snapshot    { return f.snap(stats.PhaseDone) }
func (f *fakeSlice) Done() <-chan struct{}    { return f.done }
func (f *fakeSlice) Err() error               { return nil }
func (f *fakeSlice) Describe() string         { return "fake" }
func (f *fakeSlice) Command(cmd lifecycle.Command) {
	if cmd == lifecycle.Stop {
		f.once.Do(func() { close(f.done) })
	}
}

// fakeAgent serves the control API over a fakeSlice.
func fakeAgent(t *testing.T, n int64, samples []time.Duration) *httptest.Server {
	t.Helper()
	a, err := agent.New(agent.Options{Token: "tok", Env: func() loadclient.Env {
		return loadclient.Env{PortRange: [2]int{32768, 60999}, NofileHard: 20000, CPUs: 2}
	}, Start: func(loadclient.Options) (agent.Run, error) {
		return &fakeSlice{n: n, lat: stats.HistOf(samples...), done: make(chan struct{})}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func durations(from, to, step time.Duration) []time.Duration {
	var out []time.Duration
	for d := from; d <= to; d += step {
		out = append(out, d)
	}
	return out
}

func agentOptions(urls ...string) Options {
	o := loadclient.DefaultOptions()
	o.Targets, o.Conns = []string{"127.0.0.1:9000"}, 30
	return Options{Swarm: o, Agents: urls, AgentToken: "tok"}
}

// TestAgentsMergePercentiles: the merged latency percentiles are those of
// all raw samples of both hosts (histograms merge), not an average of each
// host's percentiles; a host that goes away is lost within 3s and its
// connections leave the total.
func TestAgentsMergePercentiles(t *testing.T) {
	a := durations(100*time.Microsecond, 2*time.Millisecond, time.Microsecond)     // 1901 fast samples
	b := durations(40*time.Millisecond, 50*time.Millisecond, 100*time.Microsecond) // 101 slow ones
	srvA, srvB := fakeAgent(t, 15, a), fakeAgent(t, 15, b)
	ag, err := planAgents(agentOptions(srvA.URL, srvB.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.begin(); err != nil {
		t.Fatal(err)
	}
	defer ag.cancel()
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
	if s.Held != 15 || s.Dropped != 15 || s.Drops[DropAgentLost] != 15 || s.Ports["9000"] != 15 || s.Shards[1].Held != 15 || s.Phase != stats.PhaseHold {
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
	res := ag.results()
	if res[0].State != hostDone || res[1].State != hostLost || res[1].Held != 15 || res[1].UIDs != [2]uint64{16, 30} {
		t.Fatalf("results %+v", res)
	}
}

// TestRunOnAgents runs the whole run loop over agents: the hold is timed by
// the coordinator, the record carries the per-host breakdown and the
// summary prints it.
func TestRunOnAgents(t *testing.T) {
	srvA, srvB := fakeAgent(t, 15, durations(time.Millisecond, 2*time.Millisecond, 10*time.Microsecond)), fakeAgent(t, 15, nil)
	o := agentOptions(srvA.URL, srvB.URL)
	o.Swarm.Hold = time.Second
	o.Every = 200 * time.Millisecond
	o.Out = t.TempDir()
	var out, errOut bytes.Buffer
	o.Stdout, o.Stderr = &out, &errOut
	start := time.Now()
	res, err := RunResult(context.Background(), o)
	if err != nil || res.Code != ExitOK {
		t.Fatalf("code %d err %v\n%s\n%s", res.Code, err, errOut.String(), out.String())
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("a 1s hold took %v", d)
	}
	if !strings.Contains(errOut.String(), "agent "+srvB.URL) || !strings.Contains(out.String(), "per agent host") {
		t.Fatalf("plan or per-host summary missing:\n%s\n%s", errOut.String(), out.String())
	}
	b, err := os.ReadFile(filepath.Join(o.Out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Options struct {
			Agents []HostResult `json:"agents"`
		} `json:"options"`
		Summary stats.Summary `json:"summary"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if h := rec.Options.Agents; len(h) != 2 || h[0].Held != 15 || h[1].Held != 15 || h[1].Agent != srvB.URL || h[0].State != hostDone || rec.Summary.Held != 30 {
		t.Fatalf("record: %+v, held %d", rec.Options.Agents, rec.Summary.Held)
	}
}
