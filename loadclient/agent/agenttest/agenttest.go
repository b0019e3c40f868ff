// Package agenttest serves imtool agents whose runs are fakes, for tests
// of what drives agents (the coordinator, the run loop): each run holds a
// given number of connections at once and has recorded given login
// latencies.
package agenttest

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
)

// Token is the token of every agent Serve starts.
const Token = "tok"

// slice is a run that holds n connections from the start, in the hold
// phase, until told to stop.
type slice struct {
	n    int64
	lat  stats.Hist
	done chan struct{}
	once sync.Once
}

func (f *slice) snap(phase string) stats.Snapshot {
	return stats.Snapshot{Kind: stats.KindSwarm, Phase: phase, Target: f.n, Established: f.n, Held: f.n, Connections: f.n,
		Ports: map[string]int64{"9000": f.n}, Latency: map[string]stats.Hist{stats.LatLogin: f.lat}}
}
func (f *slice) Baseline() stats.Snapshot {
	return stats.Snapshot{Kind: stats.KindSwarm, Phase: stats.PhasePlan}
}
func (f *slice) Snapshot() stats.Snapshot { return f.snap(stats.PhaseHold) }
func (f *slice) Final() stats.Snapshot    { return f.snap(stats.PhaseDone) }
func (f *slice) Done() <-chan struct{}    { return f.done }
func (f *slice) Err() error               { return nil }
func (f *slice) Describe() string         { return "fake" }
func (f *slice) Command(cmd lifecycle.Command) {
	if cmd == lifecycle.Stop {
		f.once.Do(func() { close(f.done) })
	}
}

// Serve starts an agent (plain HTTP, Token) on a loopback port whose runs
// hold n connections and have recorded the login latencies samples; it is
// closed at the test's cleanup.
func Serve(t testing.TB, n int64, samples []time.Duration) *httptest.Server {
	t.Helper()
	a, err := agent.New(agent.Options{Token: Token, Env: func() loadclient.Env {
		return loadclient.Env{PortRange: [2]int{32768, 60999}, NofileHard: 20000, CPUs: 2}
	}, Start: func(loadclient.Options) (agent.Run, error) {
		return &slice{n: n, lat: stats.HistOf(samples...), done: make(chan struct{})}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// Durations are from, from+step, … up to to.
func Durations(from, to, step time.Duration) []time.Duration {
	var out []time.Duration
	for d := from; d <= to; d += step {
		out = append(out, d)
	}
	return out
}
