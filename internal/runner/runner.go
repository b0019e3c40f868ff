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
	env := loadclient.ReadEnv()
	if o.Env != nil {
		env = *o.Env
	}
	var (
		plan *loadclient.Plan
		ag   *agent.Coordinator // the run's agents, if it runs on agents
		err  error
	)
	if len(o.Agents) > 0 {
		if ag, err = agent.Coordinate(o.Swarm, o.Agents, o.AgentToken, o.AgentFingerprints); err == nil {
			plan = ag.Plan()
		}
	} else {
		plan, err = loadclient.NewPlan(o.Swarm, env)
	}
	if err == nil {
		fmt.Fprintln(o.Stderr, plan.Describe())
	}

	start := time.Now()
	sample := func(s stats.Snapshot) stats.Sample {
		smp := stats.Sample{T: time.Since(start).Seconds(), Swarm: s}
		h := stats.ReadHost()
		smp.Host = &h
		if o.Observe != nil {
			smp.Server, smp.Dispatcher = o.Observe()
		}
		if o.OnSample != nil {
			o.OnSample(&smp)
		}
		return smp
	}
	// The baseline is read before anything is dialed: the host's sockets and
	// memory, and the server side, as they were without the swarm.
	var base stats.Sample
	if err == nil {
		base = sample(stats.Snapshot{})
	}

	var src source
	switch {
	case err != nil:
	case ag != nil:
		src, err = ag, ag.Begin()
	case plan.Procs > 1:
		src, err = startGroup(o, plan)
	default:
		src, err = startLocal(o.Swarm, env)
	}
	if err != nil {
		var pe *loadclient.PlanError
		if errors.As(err, &pe) {
			return Result{Code: ExitUsage}, err
		}
		return Result{Code: ExitFailed}, err
	}

	rec := stats.Record{
		Tool: "imtool", Command: o.Command, Args: o.Args, Options: recordOptions(o, plan),
		Environment: stats.Environment{Facts: env}, Started: time.Now(), RawDial: o.RawDial,
	}
	if len(o.Agents) == 0 { // on agents, the hosts are theirs, not this one
		rec.Environment.Tune = tuneCheck(o, plan)
	}
	var writer *reports.Writer
	if o.Out != "" {
		if writer, err = reports.NewWriter(o.Out, rec); err != nil {
			src.Command(lifecycle.Stop)
			<-src.Done()
			return Result{Code: ExitFailed}, err
		}
	}

	var (
		mu     sync.Mutex
		latest = src.Snapshot()
	)
	current := func() stats.Snapshot {
		mu.Lock()
		defer mu.Unlock()
		return latest.Clone()
	}
	addr, stopStats, err := stats.Serve(o.StatsAddr, func() stats.Snapshot {
		s := src.Snapshot()
		mu.Lock()
		latest = s
		mu.Unlock()
		return s
	})
	if err != nil {
		src.Command(lifecycle.Stop)
		<-src.Done()
		return Result{Code: ExitFailed}, err
	}
	defer stopStats()
	if addr != "" {
		fmt.Fprintf(o.Stderr, "stats: http://%s/stats\n", addr)
	}
	_ = current

	// Sinks.
	var sink stats.Sink
	var dash *tui.Dashboard
	interrupted := make(chan struct{})
	var interruptOnce sync.Once
	stopByPerson := func() {
		interruptOnce.Do(func() { close(interrupted) })
		src.Command(lifecycle.Stop)
	}
	if o.TUI {
		title := o.Title
		if title == "" {
			title = "imtool " + o.Command
		}
		dash = tui.New(tui.Options{Target: int64(plan.Conns), Title: title, Stop: stopByPerson, Kill: o.Kill,
			Pause: pauser(src), PortRange: env.PortRange, Hold: o.Swarm.Hold})
		sink = dash
		go func() { _ = dash.Run() }()
	} else if o.JSON {
		sink = tui.NewLine(o.Stderr)
	} else {
		sink = tui.NewLine(o.Stdout)
	}

	record := func(smp stats.Sample) {
		c := smp
		c.Swarm.Shards = nil
		c.Swarm = c.Swarm.Clone()
		rec.Series = append(rec.Series, c)
		if writer != nil {
			writer.Update(smp)
		}
	}
	// The first sample is the baseline: nothing dialed yet.
	base.T, base.Swarm = 0, src.Baseline()
	record(base)

	start = time.Now() // the run's clock starts once the swarm runs
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	ctxDone := ctx.Done()
	phaseAtStop := ""
	endedEarly := "" // why the hold was cut short, when it was
loop:
	for {
		select {
		case <-ctxDone:
			ctxDone = nil
			interruptOnce.Do(func() { close(interrupted) })
			phaseAtStop = src.Snapshot().Phase
			src.Command(lifecycle.Stop)
		case <-src.Done():
			break loop
		case <-tick.C:
			s := src.Snapshot()
			mu.Lock()
			latest = s
			mu.Unlock()
			if s.Phase == stats.PhaseClose || s.Phase == stats.PhaseDone {
				continue // the final sample stands for the end of the hold
			}
			// Sampled before the hold may end here, so the host and the
			// servers are read while every connection is still held.
			smp := sample(s)
			sink.Update(smp)
			record(smp)
			if endedEarly == "" && s.Phase == stats.PhaseHold && s.Held == 0 && !o.Swarm.Reconnect {
				// Every first attempt has settled and none is held: without
				// --reconnect nothing more will be tried, so holding is waiting.
				endedEarly = "nothing held and nothing left to try: the hold ended early (--reconnect would keep redialing)"
				if !o.TUI { // the dashboard owns the screen; the exit message says it after
					fmt.Fprintf(o.Stderr, "imtool: %s\n", endedEarly)
				}
				src.Command(lifecycle.Stop)
			}
		}
	}
	final := src.Final()
	smp := sample(final)
	sink.Update(smp)
	record(smp)
	_ = sink.Close()
	runErr := src.Err()
	if o.Teardown != nil {
		rec.Teardown = o.Teardown(final)
	}
	if o.Faults != nil {
		rec.Faults = o.Faults()
		if writer != nil {
			writer.SetFaults(rec.Faults)
		}
	}

	reason := ""
	select {
	case <-interrupted:
		if phaseAtStop == "" {
			phaseAtStop = stats.PhaseHold
		}
		if !(phaseAtStop == stats.PhaseHold && o.Swarm.Hold == 0) { // Ctrl-C ends a --hold 0 run normally
			reason = "interrupted during " + phaseAtStop
		}
	default:
	}
	if runErr != nil && reason == "" {
		reason = "failed: " + runErr.Error()
	}
	var hosts []agent.HostResult
	if ag != nil {
		hosts = ag.Results()
		rec.Options["agents"] = hosts // the record's per-host breakdown
		if writer != nil {
			writer.SetOption("agents", hosts)
		}
	}
	rec.Ended = time.Now()
	rec.Incomplete = reason
	rec.Complete = reason == ""
	summary := reports.Summarize(&rec)
	rec.Summary = summary
	rec.Thresholds = reports.CheckThresholds(o.Thresholds, summary)
	res := Result{Record: &rec, Summary: summary, ByWhere: errorsBy(src)}
	if writer != nil {
		writer.SetTeardown(rec.Teardown)
		writer.SetThresholds(rec.Thresholds)
		if fin, err := writer.Finish(summary, reason); err != nil {
			fmt.Fprintf(o.Stderr, "imtool: %v\n", err)
		} else {
			res.Record = fin
		}
	}
	notes := o.Stdout // what follows the summary; with JSON, beside it
	if o.JSON {
		_ = reports.JSON(o.Stdout, res.Record)
		notes = o.Stderr
	} else {
		_ = reports.Text(o.Stdout, res.Record)
	}
	if hosts != nil {
		printHosts(notes, hosts)
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

	switch {
	case runErr != nil:
		res.Code = ExitFailed
		return res, fmt.Errorf("the swarm failed: %w", runErr)
	case res.Record.ThresholdsFailed() > 0:
		res.Code = ExitThreshold
		var failed []string
		for _, t := range res.Record.Thresholds {
			if !t.OK {
				failed = append(failed, t.Expr)
			}
		}
		return res, fmt.Errorf("%d of %d thresholds failed: %s", len(failed), len(res.Record.Thresholds), strings.Join(failed, ", "))
	case summary.Held < summary.Requested:
		res.Code = ExitShort
		why := summary.Shortfall
		if why == "" {
			why = fmt.Sprintf("held %d of %d requested", summary.Held, summary.Requested)
		}
		if reason != "" {
			why += " (" + reason + ")"
		}
		if endedEarly != "" {
			why += "; " + endedEarly
		}
		return res, errors.New(why)
	}
	return res, nil
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

// errorsBy is the errors by port and source IP of a swarm in this
// process; the others do not keep them.
func errorsBy(src source) []loadclient.ErrorCount {
	if e, ok := src.(interface {
		ErrorsBy() []loadclient.ErrorCount
	}); ok {
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
