// Package runner is the run loop shared by `imtool swarm` and `imtool
// bench`: it plans a loadclient swarm, runs it in this process or sharded
// over several (internal/shard), builds one stats.Sample a second and feeds
// the sinks — the dashboard or the plain progress line, the --stats
// endpoint, the run record — then prints the end-of-run summary and says
// which exit status the run deserves.
//
// It never exits the process and never reads flags: the command fills
// Options and turns the returned code into an exit status.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
	"github.com/imtool/imtool/reports"
	"github.com/imtool/imtool/tui"
)

// Exit codes of a run.
const (
	ExitOK     = 0 // every requested connection was held
	ExitShort  = 1 // fewer connections held than requested (the error says why)
	ExitUsage  = 2 // bad options or an impossible plan: nothing was dialed
	ExitFailed = 3 // the run could not start or broke (shards failed, …)
	// ExitThreshold: a --threshold was not met; the criteria the person
	// set decide before ExitShort does.
	ExitThreshold = 4
	DefaultEvery  = time.Second
)

// Options configure a run.
type Options struct {
	Swarm   loadclient.Options
	Command string   // "swarm" or "bench", for the record and the title
	Args    []string // the command line, for the record
	// Out is the run directory for run.json and series.jsonl; "" writes none.
	Out string
	// TUI shows the dashboard instead of the progress line.
	TUI   bool
	Title string
	// StatsAddr serves the merged swarm snapshot (/stats, /metrics); "" none.
	StatsAddr string
	Every     time.Duration // sample interval (default 1s)
	Stdout    io.Writer     // summary and progress (default os.Stdout)
	Stderr    io.Writer     // plan notes and warnings (default os.Stderr)
	// Observe, when set, is called once per sample for the server side
	// (bench): either result may be nil.
	Observe func() (server, dispatcher *stats.Snapshot)
	// Kill is called when the person asks, in the dashboard, to exit at
	// once (a second Ctrl-C). The command exits; the library does not.
	Kill func()
	// Env describes the host for the plan; nil reads it.
	Env *loadclient.Env
	// Exe is the binary shards run (default os.Executable()); each runs
	// ShardCommand with ShardOptions.
	Exe string
	// Agents, when set, run the swarm on other hosts (imtool agent at
	// host:port each) instead of this one; AgentToken authenticates to them
	// and AgentFingerprints pin their TLS certificates (agent.NewClient).
	Agents            []string
	AgentToken        string
	AgentFingerprints []string
	// Extra options to keep in the record (bench adds its own).
	Extra map[string]any
	// Teardown, when set, runs once the swarm has ended and before the
	// record is finished (bench stops its servers there and measures what
	// came back); final is the swarm's last snapshot.
	Teardown func(final stats.Snapshot) *stats.Teardown
	// RawDial is the raw dialer's rate bench measured before the run.
	RawDial *stats.RawDial
	// OnSample, when set, sees (and may annotate) each sample before the
	// sinks do: bench times its faults by the swarm's phase and marks the
	// samples of a storm.
	OnSample func(*stats.Sample)
	// Faults, when set, is called after Teardown: the faults applied to
	// the servers, for the record and the summary's recovery figures.
	Faults func() []stats.FaultEvent
	// Thresholds are checked on the summary; one not met makes the exit
	// code ExitThreshold (unless the run failed).
	Thresholds []reports.Threshold
	// JSON prints the summary as JSON (reports.JSON) on Stdout, and the
	// progress line and notes on Stderr, so Stdout holds one document.
	JSON bool
}

// Result is what a run did.
type Result struct {
	Code    int
	Record  *stats.Record
	Summary stats.Summary
	ByWhere []loadclient.ErrorCount // errors by port and source (one process only)
}

// Run plans and runs the swarm and returns the exit code; err explains a
// non-zero code.
func Run(ctx context.Context, o Options) (int, error) {
	res, err := RunResult(ctx, o)
	return res.Code, err
}

// RunResult is Run that also returns the record and summary.
func RunResult(ctx context.Context, o Options) (Result, error) {
	r, err := start(o.withDefaults())
	if err != nil {
		var pe *loadclient.PlanError
		if errors.As(err, &pe) {
			return Result{Code: ExitUsage}, err
		}
		return Result{Code: ExitFailed}, err
	}
	defer r.stopStats()
	r.loop(ctx)
	res := r.finish()
	r.report(res)
	return res, r.verdict(&res)
}

func (o Options) withDefaults() Options {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Command == "" {
		o.Command = "swarm"
	}
	return o
}

// run is one run of RunResult, from its start to its verdict.
type run struct {
	o     Options
	env   loadclient.Env
	plan  *loadclient.Plan
	ag    *agent.Coordinator // the run's agents, if it runs on agents
	src   source
	w     *reports.Writer // the run record
	sink  stats.Sink
	start time.Time // the run's clock: samples' T

	stopStats   func()
	interrupted chan struct{} // closed when the person or the context ends the run
	interrupt   sync.Once
	phaseAtStop string // the phase the run was interrupted in
	endedEarly  string // why the hold was cut short, when it was
	runErr      error
	reason      string // why the run is incomplete; "" when it is complete
	hosts       []agent.HostResult
}

// start plans the run, reads the baseline, starts the swarm, the record,
// the --stats endpoint and the sinks. Whatever it started is stopped again
// when it fails.
func start(o Options) (*run, error) {
	r := &run{o: o, env: loadclient.ReadEnv(), interrupted: make(chan struct{})}
	if o.Env != nil {
		r.env = *o.Env
	}
	var err error
	if len(o.Agents) > 0 {
		if r.ag, err = agent.Coordinate(o.Swarm, o.Agents, o.AgentToken, o.AgentFingerprints); err == nil {
			r.plan = r.ag.Plan()
		}
	} else {
		r.plan, err = loadclient.NewPlan(o.Swarm, r.env)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(o.Stderr, r.plan.Describe())

	// The baseline is read before anything is dialed: the host's sockets and
	// memory, and the server side, as they were without the swarm.
	r.start = time.Now()
	base := r.sample(stats.Snapshot{})
	switch {
	case r.ag != nil:
		r.src, err = r.ag, r.ag.Begin()
	case r.plan.Procs > 1:
		r.src, err = startGroup(o, r.plan)
	default:
		r.src, err = startLocal(o.Swarm, r.env)
	}
	if err != nil {
		return nil, err
	}
	stop := func() {
		r.src.Command(lifecycle.Stop)
		<-r.src.Done()
	}
	if r.w, err = reports.NewWriter(o.Out, r.newRecord()); err != nil {
		stop()
		return nil, err
	}
	r.w.SetThresholds(o.Thresholds)
	addr, stopStats, err := stats.Serve(o.StatsAddr, r.src.Snapshot)
	if err != nil {
		stop()
		return nil, err
	}
	r.stopStats = stopStats
	if addr != "" {
		fmt.Fprintf(o.Stderr, "stats: http://%s/stats\n", addr)
	}
	r.sink = r.newSink()
	// The first sample is the baseline: nothing dialed yet.
	base.T, base.Swarm = 0, r.src.Baseline()
	r.w.Update(base)
	r.start = time.Now() // the run's clock starts once the swarm runs
	return r, nil
}

// newRecord is the start of the run's record: what was asked, on which host.
func (r *run) newRecord() stats.Record {
	o := r.o
	rec := stats.Record{
		Tool: "imtool", Command: o.Command, Args: o.Args, Options: recordOptions(o, r.plan),
		Environment: stats.Environment{Facts: r.env}, Started: time.Now(), RawDial: o.RawDial,
	}
	if r.ag == nil { // on agents, the hosts are theirs, not this one
		rec.Environment.Tune = tuneCheck(o, r.plan)
	}
	return rec
}

// newSink is the dashboard, or the progress line.
func (r *run) newSink() stats.Sink {
	o := r.o
	switch {
	case o.TUI:
		title := o.Title
		if title == "" {
			title = "imtool " + o.Command
		}
		stopByPerson := func() {
			r.interrupt.Do(func() { close(r.interrupted) })
			r.src.Command(lifecycle.Stop)
		}
		dash := tui.New(tui.Options{Target: int64(r.plan.Conns), Title: title, Stop: stopByPerson, Kill: o.Kill,
			Pause: pauser(r.src), PortRange: r.env.PortRange, Hold: o.Swarm.Hold})
		go func() { _ = dash.Run() }()
		return dash
	case o.JSON:
		return tui.NewLine(o.Stderr)
	default:
		return tui.NewLine(o.Stdout)
	}
}

// sample is one sample of the run: the swarm's snapshot s, the host, and
// the server side when observed.
func (r *run) sample(s stats.Snapshot) stats.Sample {
	smp := stats.Sample{T: time.Since(r.start).Seconds(), Swarm: s}
	h := stats.ReadHost()
	smp.Host = &h
	if r.o.Observe != nil {
		smp.Server, smp.Dispatcher = r.o.Observe()
	}
	if r.o.OnSample != nil {
		r.o.OnSample(&smp)
	}
	return smp
}

// loop samples the run every Every until the swarm is done; it stops the
// swarm when ctx ends, and ends a hold that has nothing to wait for.
func (r *run) loop(ctx context.Context) {
	tick := time.NewTicker(r.o.Every)
	defer tick.Stop()
	ctxDone := ctx.Done()
	for {
		select {
		case <-ctxDone:
			ctxDone = nil
			r.interrupt.Do(func() { close(r.interrupted) })
			r.phaseAtStop = r.src.Snapshot().Phase
			r.src.Command(lifecycle.Stop)
		case <-r.src.Done():
			return
		case <-tick.C:
			s := r.src.Snapshot()
			if s.Phase == stats.PhaseClose || s.Phase == stats.PhaseDone {
				continue // the final sample stands for the end of the hold
			}
			// Sampled before the hold may end here, so the host and the
			// servers are read while every connection is still held.
			smp := r.sample(s)
			r.sink.Update(smp)
			r.w.Update(smp)
			if r.endedEarly == "" && s.Phase == stats.PhaseHold && s.Held == 0 && !r.o.Swarm.Reconnect {
				// Every first attempt has settled and none is held: without
				// --reconnect nothing more will be tried, so holding is waiting.
				r.endedEarly = "nothing held and nothing left to try: the hold ended early (--reconnect would keep redialing)"
				if !r.o.TUI { // the dashboard owns the screen; the exit message says it after
					fmt.Fprintf(r.o.Stderr, "imtool: %s\n", r.endedEarly)
				}
				r.src.Command(lifecycle.Stop)
			}
		}
	}
}

// finish takes the final sample, lets the command tear down and name its
// faults, and finishes the record.
func (r *run) finish() Result {
	final := r.src.Final()
	smp := r.sample(final)
	r.sink.Update(smp)
	r.w.Update(smp)
	_ = r.sink.Close()
	r.runErr = r.src.Err()
	if r.o.Teardown != nil {
		r.w.SetTeardown(r.o.Teardown(final))
	}
	if r.o.Faults != nil {
		r.w.SetFaults(r.o.Faults())
	}
	select {
	case <-r.interrupted:
		if r.phaseAtStop == "" {
			r.phaseAtStop = stats.PhaseHold
		}
		if !(r.phaseAtStop == stats.PhaseHold && r.o.Swarm.Hold == 0) { // Ctrl-C ends a --hold 0 run normally
			r.reason = "interrupted during " + r.phaseAtStop
		}
	default:
	}
	if r.runErr != nil && r.reason == "" {
		r.reason = "failed: " + r.runErr.Error()
	}
	if r.ag != nil {
		r.hosts = r.ag.Results()
		r.w.SetOption("agents", r.hosts) // the record's per-host breakdown
	}
	rec, err := r.w.Finish(stats.Summary{}, r.reason)
	if err != nil {
		fmt.Fprintf(r.o.Stderr, "imtool: %v\n", err)
	}
	return Result{Record: rec, Summary: rec.Summary, ByWhere: errorsBy(r.src)}
}

// report prints the summary (text or JSON) and what follows it.
func (r *run) report(res Result) {
	o := r.o
	notes := o.Stdout // what follows the summary; with JSON, beside it
	if o.JSON {
		_ = reports.JSON(o.Stdout, res.Record)
		notes = o.Stderr
	} else {
		_ = reports.Text(o.Stdout, res.Record)
	}
	if r.hosts != nil {
		printHosts(notes, r.hosts)
	}
	if len(res.ByWhere) > 0 {
		fmt.Fprintln(notes, "\nerrors by destination and source")
		for _, e := range res.ByWhere {
			fmt.Fprintf(notes, "  %-16s %-24s %d\n", e.Class, e.Where, e.N)
		}
	}
	if o.Out != "" {
		fmt.Fprintf(notes, "\nrun record: %s\n", o.Out)
	}
}

// printHosts writes the per-host summary after the run's.
func printHosts(w io.Writer, hosts []agent.HostResult) {
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
		if h.State == agent.HostLost {
			lost = append(lost, fmt.Sprintf("  LOST %s (%s) at %.1fs: %s; its last numbers are shown, its %d held connections count as dropped (%s)",
				h.Agent, h.Hostname, h.LostAtS, h.Lost, h.Held, agent.DropLost))
		}
	}
	_ = tw.Flush()
	if len(lost) > 0 {
		fmt.Fprintln(w, strings.Join(lost, "\n"))
	}
}

// verdict sets res.Code and says why it is not ExitOK.
func (r *run) verdict(res *Result) error {
	summary := res.Summary
	switch {
	case r.runErr != nil:
		res.Code = ExitFailed
		return fmt.Errorf("the swarm failed: %w", r.runErr)
	case res.Record.ThresholdsFailed() > 0:
		res.Code = ExitThreshold
		var failed []string
		for _, t := range res.Record.Thresholds {
			if !t.OK {
				failed = append(failed, t.Expr)
			}
		}
		return fmt.Errorf("%d of %d thresholds failed: %s", len(failed), len(res.Record.Thresholds), strings.Join(failed, ", "))
	case summary.Held < summary.Requested:
		res.Code = ExitShort
		why := summary.Shortfall
		if why == "" {
			why = fmt.Sprintf("held %d of %d requested", summary.Held, summary.Requested)
		}
		if r.reason != "" {
			why += " (" + r.reason + ")"
		}
		if r.endedEarly != "" {
			why += "; " + r.endedEarly
		}
		return errors.New(why)
	}
	return nil
}

// pauser is the dashboard's pause key: it pauses and resumes src's ramp.
func pauser(src source) func(bool) {
	return func(p bool) {
		if p {
			src.Command(lifecycle.Pause)
		} else {
			src.Command(lifecycle.Resume)
		}
	}
}

// errorsByWhere is a source that keeps its errors by port and source IP:
// a swarm in this process.
type errorsByWhere interface {
	ErrorsBy() []loadclient.ErrorCount
}

// errorsBy is the errors by port and source IP of src, if it keeps them.
func errorsBy(src source) []loadclient.ErrorCount {
	if e, ok := src.(errorsByWhere); ok {
		return e.ErrorsBy()
	}
	return nil
}

// recordOptions are the run's options as the record keeps them.
func recordOptions(o Options, p *loadclient.Plan) map[string]any {
	s := o.Swarm
	m := map[string]any{
		"conns": p.Conns, "targets": s.Targets, "rate": s.Rate, "proto": orDefault(s.Proto, loadclient.ProtoIMTool),
		"uid_base": s.UIDBase, "heartbeat": s.Heartbeat.String(), "msg_rate": s.MsgRate, "payload": s.Payload,
		"hold": s.Hold.String(), "close": orDefault(s.Close, loadclient.CloseFIN), "reconnect": s.Reconnect,
		"connect_timeout": s.ConnectTimeout.String(), "login_timeout": s.LoginTimeout.String(),
		"max_inflight": s.MaxInflight, "procs": p.Procs, "engine": loadclient.EngineFor(s),
		"auth":         len(s.AuthSecret) > 0,
		"backoff":      s.Backoff.OrDefault().String(),
		"destinations": len(p.Dests), "source_ips": loadclient.FormatSourceIPs(p.Sources),
		"pairs": p.Pairs, "per_pair": p.PerPair, "capacity": p.Capacity,
	}
	if s.Churn.Rate > 0 {
		m["churn"] = s.Churn.Spec
		m["churn_per_s"] = s.Churn.Rate
		m["churn_burst"] = s.Churn.Burst.String()
	}
	if len(p.Notes) > 0 {
		m["plan_notes"] = p.Notes
	}
	if len(p.Warnings) > 0 {
		m["plan_warnings"] = p.Warnings
	}
	for k, v := range o.Extra {
		m[k] = v
	}
	return m
}

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}
