// Package bench is `imtool bench`: the whole test on one machine with
// nothing set up. It checks the host can hold the run, starts a dispatcher
// and a gateway sharded over as many processes as the fd limit requires,
// measures a raw epoll dialer into it (the floor the ramp is compared
// with), drives a swarm against it through internal/runner (dashboard or progress
// line, run record, summary), then stops everything it started and records
// whether the memory came back. With --netns it first runs itself again in
// a network namespace of its own, sized for the run (netns_linux.go).
//
// It is the composition root of the project, so unlike the other internal
// packages it imports the libraries above it (runner, tuner).
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/runner"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
)

// Defaults of `imtool bench`: about a minute on a 2-core machine.
const (
	DefaultConns     = 100000
	DefaultHold      = 30 * time.Second
	DefaultHeartbeat = 10 * time.Second
	DefaultMsgRate   = 1000
	DefaultRate      = 20000
	// teardownWait bounds how long bench waits for the kernel to free the
	// sockets' memory after everything stopped.
	teardownWait = 15 * time.Second
)

// Options configure a bench run.
type Options struct {
	Run         runner.Options // the swarm and its sinks; Observe and Teardown are set here
	GatewayArgs []string       // extra `imtool server` flags (--broadcast, --idle-timeout, …)
	Root        string         // where Preflight reads /proc ("/" on a real host)
	Log         io.Writer      // the gateway's and dispatcher's output (default: DIR/services.log, else stderr)
	// GatewayProcs is the number of gateway shards; 0: as many as the fd
	// limit requires.
	GatewayProcs int
	// Faults are applied to the servers during the hold (ParseFaults); the
	// gateway then restarts a shard that dies.
	Faults []Fault
}

// Run does the bench and returns the exit code of internal/runner.
func Run(ctx context.Context, o Options) (int, error) {
	sw := o.Run.Swarm
	if err := Preflight(o.Root, sw.Conns, sw.Ports); err != nil {
		return runner.ExitUsage, err
	}
	if o.GatewayProcs > 0 {
		if err := checkShards(o.Faults, o.GatewayProcs); err != nil {
			return runner.ExitUsage, err
		}
	}
	exe, err := exePath()
	if err != nil {
		return runner.ExitFailed, err
	}
	log := o.Log
	if log == nil {
		log = os.Stderr
		if o.Run.Out != "" {
			if err := os.MkdirAll(o.Run.Out, 0o755); err != nil {
				return runner.ExitFailed, fmt.Errorf("cannot create the run directory: %w", err)
			}
			f, err := os.Create(filepath.Join(o.Run.Out, "services.log"))
			if err != nil {
				return runner.ExitFailed, fmt.Errorf("cannot create the services log: %w", err)
			}
			defer f.Close()
			log = f
		}
	}
	before := stats.ReadHost().MemAvailable
	ws := sw.Proto == loadclient.ProtoWS || sw.Proto == loadclient.ProtoWSIMTool
	kind := ""
	if sw.ScenarioWS() {
		// The reference gateway's WebSocket ports: the scenario speaks
		// what it speaks there.
		ws, kind = true, " WebSocket"
	} else if ws {
		// The reference gateway speaks imtool inside WebSocket: the bench's
		// counts (SEND → ACK → DELIVER) need imtool frames in the messages.
		o.Run.Swarm.Proto, kind = loadclient.ProtoWSIMTool, " WebSocket (imtool frames in binary messages)"
	}
	fmt.Fprintf(o.Run.Stderr, "bench: starting a dispatcher and a gateway for %d connections on 127.0.0.1%s ports %s\n", sw.Conns, kind, portspec.String(sw.Ports))
	gwArgs := o.GatewayArgs
	if len(o.Faults) > 0 {
		gwArgs = append(gwArgs[:len(gwArgs):len(gwArgs)], "--restart-shards")
	}
	// A churned connection's redial may reach the gateway before the
	// gateway has read the close of the connection it replaces: room for
	// five seconds of churn, so that none is refused as server full.
	maxConns := sw.Conns + int(5*sw.Churn.Rate)
	svc, err := startServices(ctx, serviceOptions{
		Exe: exe, Ports: sw.Ports, WS: ws, MaxConns: maxConns, Procs: o.GatewayProcs, Args: gwArgs, Log: log, Ready: 30 * time.Second,
	})
	if err != nil {
		return runner.ExitFailed, err
	}
	faults := newFaultRun(svc, o.Faults)
	stopped := false
	defer func() {
		faults.end()
		if !stopped {
			svc.stop()
		}
	}()
	ro := o.Run
	ro.Command = "bench"
	if len(o.Faults) > 0 {
		shards := 1
		if srv, _ := svc.observe(ctx); srv != nil {
			shards = max(len(srv.Shards), 1)
		}
		if err := checkShards(o.Faults, shards); err != nil {
			return runner.ExitUsage, err
		}
		ro.OnSample, ro.Faults = faults.onSample, faults.end
	}
	if ro.RawDial, err = rawDial(ctx, svc, sw.Ports, sw.Conns); err != nil {
		fmt.Fprintf(o.Run.Stderr, "bench: the raw dialer could not measure (%v); the ramp is not compared with it\n", err)
	} else if ro.RawDial != nil {
		fmt.Fprintf(o.Run.Stderr, "bench: raw epoll dialer: %s connections at %s conn/s\n", stats.Thousands(int64(ro.RawDial.Conns)), stats.Thousands(int64(ro.RawDial.Rate)))
	}
	ro.Swarm.Targets = []string{"127.0.0.1"}
	ro.Observe = func() (*stats.Snapshot, *stats.Snapshot) { return svc.observe(ctx) }
	ro.Teardown = func(final stats.Snapshot) *stats.Teardown {
		pids := svc.pids()
		for _, sh := range final.Shards {
			if sh.PID != 0 {
				pids = append(pids, sh.PID)
			}
		}
		faults.end() // stopped processes are continued, or SIGTERM would wait on them
		stopped = true
		td := &stats.Teardown{MemAvailableBefore: before, ProcessesStarted: len(pids)}
		if err := svc.stop(); err != nil {
			td.Errors = err.Error()
		}
		deadline := time.Now().Add(teardownWait)
		for {
			td.MemAvailableAfter = stats.ReadHost().MemAvailable
			td.RecoveredPercent = 100 * float64(td.MemAvailableAfter) / float64(max(before, 1))
			td.ProcessesLeft = alive(pids)
			if (td.RecoveredPercent >= 95 && td.ProcessesLeft == 0) || time.Now().After(deadline) {
				return td
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return runner.Run(ctx, ro)
}

// DefaultSwarm is the swarm a bench runs when given no flags.
func DefaultSwarm() loadclient.Options {
	o := loadclient.DefaultOptions()
	o.Conns, o.Hold, o.Heartbeat, o.MsgRate, o.Rate = DefaultConns, DefaultHold, DefaultHeartbeat, DefaultMsgRate, DefaultRate
	return o
}
