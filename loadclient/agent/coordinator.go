package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
)

// How the coordinator watches its agents: it polls each one's snapshot
// every agentPollEvery (the poll is also the heartbeat the agent's grace
// waits for) and marks an agent lost when no poll has succeeded for
// agentLostAfter, so a dead or unreachable host shows as lost within 3s.
const (
	agentPollEvery   = 500 * time.Millisecond
	agentPollTimeout = 900 * time.Millisecond
	agentLostAfter   = 1500 * time.Millisecond
	// DropLost is the drop cause of the connections a lost agent held.
	DropLost = "agent_lost"
)

// Agent host states, as the coordinator sees them (HostResult.State).
const (
	HostRunning = "running"
	HostDone    = "done"
	HostLost    = "lost"
)

// Coordinator is a swarm run by imtool agents on other hosts, as the
// coordinator (imtool swarm --agents) drives it: a run like a swarm in
// this process or a shard group (Snapshot, Command, Done, Final, Err), so
// the run loop, the sinks and the record work unchanged. Its snapshot
// merges the hosts' (one part per host, ID = the agent's address); the
// connections of a lost host leave the total and count as dropped
// (DropLost), its last numbers stay in its part. Its supervisor times the
// hold for every agent (their slices hold until told) and ends them
// together.
type Coordinator struct {
	id                    string // the run's id on every agent
	hosts                 []*agentHost
	plan                  *loadclient.Plan
	start                 time.Time
	*lifecycle.Supervised // times the hold for every agent and ends them together
	endOnce               sync.Once
	ch                    chan struct{}
	cancel                context.CancelFunc
}

type agentHost struct {
	a Assignment
	c *Client

	mu         sync.Mutex
	last       stats.Snapshot
	lastOK     time.Time
	state      string
	lostAt     time.Duration
	lostWhy    string
	stopReason string
	runErr     string
}

// Coordinate asks every agent (HOST:PORT each; token and pins as for
// NewClient) for its host, splits the swarm o over them and checks every
// host's slice; nothing is started yet (Begin).
func Coordinate(o loadclient.Options, addrs []string, token string, pins []string) (*Coordinator, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hosts := make([]*agentHost, len(addrs))
	infos := make([]Info, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		hosts[i] = &agentHost{c: NewClient(addr, token, pins), state: HostRunning}
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = hosts[i].c.Info(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cannot ask every agent for its host (is `imtool agent` running there, reachable from here, with the same token?):\n%w", err)
	}
	as, err := Split(o, infos, addrs)
	if err != nil {
		return nil, err
	}
	for i := range hosts {
		hosts[i].a = as[i]
	}
	ag := &Coordinator{hosts: hosts, plan: Combined(as), ch: make(chan struct{})}
	ag.Supervised = lifecycle.Supervise(lifecycle.Remote{Send: ag.send, Merged: ag.merged, Empty: loadclient.Drained, Ended: ag.ch},
		lifecycle.Options{Hold: o.Hold, Drain: max(o.Drain, loadclient.DefaultDrain) + 2*time.Second, Watch: agentPollEvery})
	return ag, nil
}

// Plan is the swarm's plan over every agent (Combined).
func (ag *Coordinator) Plan() *loadclient.Plan { return ag.plan }

// Begin has every agent check its slice (a dry run), then starts all of
// them at once. If one cannot start, those started are stopped again.
func (ag *Coordinator) Begin() error {
	ag.id = fmt.Sprintf("imtool-%d", time.Now().UnixNano())
	for _, dry := range []bool{true, false} {
		errs := ag.each(func(ctx context.Context, h *agentHost) error {
			st, err := h.c.Start(ctx, RunRequest{ID: ag.id, Options: h.a.Options}, dry)
			if err == nil && !dry {
				h.mu.Lock()
				h.last, h.lastOK = st.Snapshot, time.Now()
				h.last.ID = h.a.Agent
				h.mu.Unlock()
			}
			return err
		}, 15*time.Second)
		if err := errors.Join(errs...); err != nil {
			if !dry { // stop the runs this coordinator started, and only those
				for i, h := range ag.hosts {
					if errs[i] != nil {
						h.mu.Lock()
						h.state = HostDone
						h.mu.Unlock()
					}
				}
				ag.send(lifecycle.Stop)
			}
			var se *StatusError
			if errors.As(err, &se) && se.Code/100 == 4 {
				return &loadclient.PlanError{Msg: "an agent refused its slice; nothing runs:\n" + err.Error()}
			}
			return fmt.Errorf("cannot start the run on every agent; nothing runs:\n%w", err)
		}
	}
	ag.start = time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	ag.cancel = cancel
	for _, h := range ag.hosts {
		go ag.poll(ctx, h)
	}
	ag.Start(ag.merged())
	return nil
}

// each runs f on every host still running, in parallel, each within d, and
// returns the errors.
func (ag *Coordinator) each(f func(ctx context.Context, h *agentHost) error, d time.Duration) []error {
	errs := make([]error, len(ag.hosts))
	var wg sync.WaitGroup
	for i, h := range ag.hosts {
		h.mu.Lock()
		running := h.state == HostRunning
		h.mu.Unlock()
		if !running {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			errs[i] = f(ctx, h)
		}()
	}
	wg.Wait()
	return errs
}

// send gives every running agent a command; one that does not answer will
// be marked lost by its poller.
func (ag *Coordinator) send(cmd lifecycle.Command) {
	ag.each(func(ctx context.Context, h *agentHost) error { return h.c.Command(ctx, cmd) }, 2*time.Second)
}

// poll keeps h's snapshot fresh until its run is done or it is lost.
func (ag *Coordinator) poll(ctx context.Context, h *agentHost) {
	tick := time.NewTicker(agentPollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, agentPollTimeout)
		st, err := h.c.Stats(pctx)
		cancel()
		h.mu.Lock()
		switch {
		case err == nil && st.ID != ag.id: // our run ended there (its grace?) and another began
			h.state, h.lostAt = HostLost, time.Since(ag.start)
			h.lostWhy = fmt.Sprintf("the agent runs another run now (%q): ours ended there without us", st.ID)
			h.last.Down = true
		case err == nil:
			h.last, h.lastOK = st.Snapshot, time.Now()
			h.last.ID = h.a.Agent
			if st.State == StateDone {
				h.state, h.stopReason, h.runErr = HostDone, st.StopReason, st.Error
			}
		case time.Since(h.lastOK) > agentLostAfter:
			h.state, h.lostAt = HostLost, time.Since(ag.start)
			h.lostWhy = fmt.Sprintf("no answer for %s: %v", time.Since(h.lastOK).Round(100*time.Millisecond), err)
			h.last.Down = true
		}
		state := h.state
		h.mu.Unlock()
		if state != HostRunning {
			ag.ended()
			return
		}
	}
}

// ended closes done once no host is running.
func (ag *Coordinator) ended() {
	for _, h := range ag.hosts {
		h.mu.Lock()
		running := h.state == HostRunning
		h.mu.Unlock()
		if running {
			return
		}
	}
	ag.endOnce.Do(func() {
		ag.cancel()
		close(ag.ch)
	})
}

func (ag *Coordinator) merged() stats.Snapshot {
	parts := make([]stats.Snapshot, len(ag.hosts))
	for i, h := range ag.hosts {
		h.mu.Lock()
		parts[i] = h.last.Clone()
		h.mu.Unlock()
	}
	s := stats.Merge(stats.KindSwarm, "", parts)
	for _, p := range parts {
		if p.Down { // its connections and processes are gone with it
			s.RSSBytes -= p.RSSBytes
			s.PrivateBytes -= p.PrivateBytes
			s.HeapBytes -= p.HeapBytes
			s.FDs -= p.FDs
			s.FDLimit -= p.FDLimit
			s.Goroutines -= p.Goroutines
			s.Processes -= max(p.Processes, 1)
			s.Held -= p.Held
			s.Connections -= p.Connections
			s.Dropped += p.Held
			if p.Held > 0 {
				s.Drops = addTo(s.Drops, DropLost, p.Held)
			}
			for k, v := range p.Ports {
				s.Ports[k] -= v
			}
			for k, v := range p.SourceIPs {
				s.SourceIPs[k] -= v
			}
		}
	}
	return s
}

func addTo(m map[string]int64, k string, v int64) map[string]int64 {
	if m == nil {
		m = map[string]int64{}
	}
	m[k] += v
	return m
}

// Err reports runs that failed on their agent, and a run that lost every
// agent; a run that lost some goes on and its summary says so.
func (ag *Coordinator) Err() error {
	var errs []error
	lost := 0
	for _, h := range ag.hosts {
		h.mu.Lock()
		if h.runErr != "" {
			errs = append(errs, fmt.Errorf("agent %s: %s", h.a.Agent, h.runErr))
		}
		if h.state == HostLost {
			lost++
		}
		h.mu.Unlock()
	}
	if lost == len(ag.hosts) {
		errs = append(errs, errors.New("every agent was lost"))
	}
	return errors.Join(errs...)
}

// HostResult is one agent host in the run record (Options["agents"]): its
// slice and what it did.
type HostResult struct {
	Agent       string                          `json:"agent"`
	Hostname    string                          `json:"hostname"`
	Environment loadclient.Env                  `json:"environment"`
	Conns       int                             `json:"conns"`
	UIDs        [2]uint64                       `json:"uids"` // first and last
	SourceIPs   string                          `json:"source_ips,omitempty"`
	Procs       int                             `json:"procs"`
	State       string                          `json:"state"` // done or lost
	LostAtS     float64                         `json:"lost_at_s,omitempty"`
	Lost        string                          `json:"lost,omitempty"` // why it was marked lost
	StopReason  string                          `json:"stop_reason,omitempty"`
	Error       string                          `json:"error,omitempty"`
	Established int64                           `json:"established"`
	Held        int64                           `json:"held"` // at the end of the hold, or when lost
	Dropped     int64                           `json:"dropped"`
	Errors      map[string]int64                `json:"errors,omitempty"`
	Latency     map[string]stats.LatencySummary `json:"latency,omitempty"`
}

// Results is the per-host breakdown of the run.
func (ag *Coordinator) Results() []HostResult {
	out := make([]HostResult, len(ag.hosts))
	for i, h := range ag.hosts {
		h.mu.Lock()
		s, a := h.last, h.a
		r := HostResult{Agent: a.Agent, Hostname: a.Info.Hostname, Environment: a.Info.Environment,
			Conns: a.Options.Conns, UIDs: [2]uint64{a.Options.UIDBase, a.Options.UIDBase + uint64(a.Options.Conns) - 1},
			SourceIPs: loadclient.FormatSourceIPs(a.Plan.Sources), Procs: a.Plan.Procs,
			State: h.state, Lost: h.lostWhy, StopReason: h.stopReason, Error: h.runErr,
			Established: s.Established, Held: s.Held, Dropped: s.Dropped, Errors: s.Errors}
		if h.state == HostLost {
			r.LostAtS = h.lostAt.Seconds()
		}
		h.mu.Unlock()
		for k, hist := range s.Latency {
			if hist.Count > 0 {
				if r.Latency == nil {
					r.Latency = map[string]stats.LatencySummary{}
				}
				r.Latency[k] = stats.Summarize(hist)
			}
		}
		out[i] = r
	}
	return out
}
