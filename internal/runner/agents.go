package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
)

// How the coordinator watches its agents: it polls each one's snapshot
// every agentPollEvery (the poll is also the heartbeat the agent's grace
// waits for) and marks an agent lost when no poll has succeeded for
// agentLostAfter, so a dead or unreachable host shows as lost within 3s.
const (
	agentPollEvery   = 500 * time.Millisecond
	agentPollTimeout = 900 * time.Millisecond
	agentLostAfter   = 1500 * time.Millisecond
	// DropAgentLost is the drop cause of the connections a lost agent held.
	DropAgentLost = "agent_lost"
)

// Agent host states, as the coordinator sees them.
const (
	hostRunning = "running"
	hostDone    = "done"
	hostLost    = "lost"
)

// agents is a swarm run by imtool agents on other hosts: the third source,
// beside local and group, so the run loop, the sinks and the record work
// unchanged. Its snapshot merges the hosts' (one part per host, ID = the
// agent's address); the connections of a lost host leave the total and
// count as dropped (DropAgentLost), its last numbers stay in its part.
type agents struct {
	id      string // the run's id on every agent
	hosts   []*agentHost
	plan    *loadclient.Plan
	base    stats.Snapshot
	start   time.Time
	sup     *lifecycle.Supervisor // times the hold for every agent and ends them together
	endOnce sync.Once
	ch      chan struct{}
	cancel  context.CancelFunc
}

type agentHost struct {
	a agent.Assignment
	c *agent.Client

	mu         sync.Mutex
	last       stats.Snapshot
	lastOK     time.Time
	state      string
	lostAt     time.Duration
	lostWhy    string
	stopReason string
	runErr     string
}

// planAgents asks every agent for its host, splits the swarm over them and
// checks every host's slice; nothing is started yet.
func planAgents(o Options) (*agents, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hosts := make([]*agentHost, len(o.Agents))
	infos := make([]agent.Info, len(o.Agents))
	errs := make([]error, len(o.Agents))
	var wg sync.WaitGroup
	for i, addr := range o.Agents {
		hosts[i] = &agentHost{c: agent.NewClient(addr, o.AgentToken, o.AgentFingerprints), state: hostRunning}
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
	as, err := agent.Split(o.Swarm, infos, o.Agents)
	if err != nil {
		return nil, err
	}
	for i := range hosts {
		hosts[i].a = as[i]
	}
	ag := &agents{hosts: hosts, plan: agent.Combined(as), ch: make(chan struct{})}
	ag.sup = lifecycle.New(lifecycle.Remote{Send: ag.send, Merged: ag.merged, Empty: loadclient.Drained, Ended: ag.ch},
		lifecycle.Options{Hold: o.Swarm.Hold, Drain: max(o.Swarm.Drain, loadclient.DefaultDrain) + 2*time.Second, Watch: agentPollEvery})
	return ag, nil
}

// begin has every agent check its slice (a dry run), then starts all of
// them at once. If one cannot start, those started are stopped again.
func (ag *agents) begin() error {
	ag.id = fmt.Sprintf("imtool-%d", time.Now().UnixNano())
	for _, dry := range []bool{true, false} {
		errs := ag.each(func(ctx context.Context, h *agentHost) error {
			st, err := h.c.Start(ctx, agent.RunRequest{ID: ag.id, Options: h.a.Options}, dry)
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
						h.state = hostDone
						h.mu.Unlock()
					}
				}
				ag.send(lifecycle.Stop)
			}
			var se *agent.StatusError
			if errors.As(err, &se) && se.Code/100 == 4 {
				return &loadclient.PlanError{Msg: "an agent refused its slice; nothing runs:\n" + err.Error()}
			}
			return fmt.Errorf("cannot start the run on every agent; nothing runs:\n%w", err)
		}
	}
	ag.start = time.Now()
	ag.base = ag.merged()
	ag.base.Phase = stats.PhasePlan
	ctx, cancel := context.WithCancel(context.Background())
	ag.cancel = cancel
	for _, h := range ag.hosts {
		go ag.poll(ctx, h)
	}
	go ag.sup.Run(context.Background())
	return nil
}

// each runs f on every host still running, in parallel, each within d, and
// returns the errors.
func (ag *agents) each(f func(ctx context.Context, h *agentHost) error, d time.Duration) []error {
	errs := make([]error, len(ag.hosts))
	var wg sync.WaitGroup
	for i, h := range ag.hosts {
		h.mu.Lock()
		running := h.state == hostRunning
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
func (ag *agents) send(cmd lifecycle.Command) {
	ag.each(func(ctx context.Context, h *agentHost) error { return h.c.Command(ctx, cmd) }, 2*time.Second)
}

// poll keeps h's snapshot fresh until its run is done or it is lost.
func (ag *agents) poll(ctx context.Context, h *agentHost) {
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
			h.state, h.lostAt = hostLost, time.Since(ag.start)
			h.lostWhy = fmt.Sprintf("the agent runs another run now (%q): ours ended there without us", st.ID)
			h.last.Down = true
		case err == nil:
			h.last, h.lastOK = st.Snapshot, time.Now()
			h.last.ID = h.a.Agent
			if st.State == agent.StateDone {
				h.state, h.stopReason, h.runErr = hostDone, st.StopReason, st.Error
			}
		case time.Since(h.lastOK) > agentLostAfter:
			h.state, h.lostAt = hostLost, time.Since(ag.start)
			h.lostWhy = fmt.Sprintf("no answer for %s: %v", time.Since(h.lastOK).Round(100*time.Millisecond), err)
			h.last.Down = true
		}
		state := h.state
		h.mu.Unlock()
		if state != hostRunning {
			ag.ended()
			return
		}
	}
}

// ended closes done once no host is running.
func (ag *agents) ended() {
	for _, h := range ag.hosts {
		h.mu.Lock()
		running := h.state == hostRunning
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

func (ag *agents) merged() stats.Snapshot {
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
				s.Drops = addTo(s.Drops, DropAgentLost, p.Held)
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

func (ag *agents) Baseline() stats.Snapshot    { return ag.base }
func (ag *agents) Snapshot() stats.Snapshot    { return ag.merged() }
func (ag *agents) Command(c lifecycle.Command) { ag.sup.Command(c) }
func (ag *agents) Final() stats.Snapshot {
	s := ag.merged()
	s.Phase = stats.PhaseDone
	return s
}
func (ag *agents) Done() <-chan struct{} { return ag.sup.Done() }

// err reports runs that failed on their agent, and a run that lost every
// agent; a run that lost some goes on and its summary says so.
func (ag *agents) Err() error {
	var errs []error
	lost := 0
	for _, h := range ag.hosts {
		h.mu.Lock()
		if h.runErr != "" {
			errs = append(errs, fmt.Errorf("agent %s: %s", h.a.Agent, h.runErr))
		}
		if h.state == hostLost {
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

// results is the per-host breakdown of the run.
func (ag *agents) results() []HostResult {
	out := make([]HostResult, len(ag.hosts))
	for i, h := range ag.hosts {
		h.mu.Lock()
		s, a := h.last, h.a
		r := HostResult{Agent: a.Agent, Hostname: a.Info.Hostname, Environment: a.Info.Environment,
			Conns: a.Options.Conns, UIDs: [2]uint64{a.Options.UIDBase, a.Options.UIDBase + uint64(a.Options.Conns) - 1},
			SourceIPs: loadclient.FormatSourceIPs(a.Plan.Sources), Procs: a.Plan.Procs,
			State: h.state, Lost: h.lostWhy, StopReason: h.stopReason, Error: h.runErr,
			Established: s.Established, Held: s.Held, Dropped: s.Dropped, Errors: s.Errors}
		if h.state == hostLost {
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

// printHosts writes the per-host summary after the run's.
func printHosts(w io.Writer, hosts []HostResult) {
	fmt.Fprintln(w, "\nper agent host")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  agent\thost\tconns\testablished\theld\tdropped\terrors\tstate\t")
	var lost []string
	for _, h := range hosts {
		var errs int64
		for _, n := range h.Errors {
			errs += n
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", h.Agent, h.Hostname, h.Conns, h.Established, h.Held, h.Dropped, errs, h.State)
		if h.State == hostLost {
			lost = append(lost, fmt.Sprintf("  LOST %s (%s) at %.1fs: %s; its last numbers are shown, its %d held connections count as dropped (%s)",
				h.Agent, h.Hostname, h.LostAtS, h.Lost, h.Held, DropAgentLost))
		}
	}
	_ = tw.Flush()
	if len(lost) > 0 {
		fmt.Fprintln(w, strings.Join(lost, "\n"))
	}
}

// Slice is a plan slice running on this host for `imtool agent`: in this
// process or sharded over several, exactly as `imtool swarm` runs it. It
// satisfies agent.Run.
type Slice struct {
	source
	plan *loadclient.Plan
}

// StartSlice plans o on this host and starts it; shards' stderr goes to
// stderr. Its hold (o.Hold > 0) is timed by its supervisor, in this
// process or, sharded, by the group's.
func StartSlice(o loadclient.Options, stderr io.Writer) (*Slice, error) {
	env := loadclient.ReadEnv()
	plan, err := loadclient.NewPlan(o, env)
	if err != nil {
		return nil, err
	}
	s := &Slice{plan: plan}
	if plan.Procs > 1 {
		s.source, err = startGroup(Options{Swarm: o, Stderr: stderr}, plan)
	} else {
		s.source, err = startLocal(o, env)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Describe is the slice's plan in words.
func (s *Slice) Describe() string { return s.plan.Describe() }
