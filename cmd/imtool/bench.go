package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imtool/imtool/internal/bench"
	"github.com/imtool/imtool/internal/runner"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/refserver"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "the whole test on this machine, nothing to set up: dispatcher, sharded gateway, swarm, report",
		UsageText: "imtool bench [--conns 100000] [--hold 30s] [--msg-rate 1000] [swarm options]",
		Description: `bench checks that this host can hold the run (memory, fs.file-max, epoll watches),
starts a dispatcher and a gateway on 127.0.0.1 (--ports, sharded over as many processes
as RLIMIT_NOFILE requires), and runs a swarm against it with the swarm's options
(--conns, --rate, --hold, --heartbeat, --msg-rate, --procs, …). It shows the dashboard
on a terminal (a progress line otherwise), prints the summary, writes the run record
under --out (default ./imtool-runs/<time>/), then stops everything it started and
records whether the memory came back.

FAULTS. --fault schedules a fault into the hold, and the summary and the run record
measure the recovery: connections dropped, reconnects per second, the time until the
count is whole again and the three counts agree again, connect and login latency
during the storm, errors by class, and the heartbeat and message latency and ACK
statuses of the sessions held meanwhile. Several are allowed:
  kill-gateway:N@T      SIGKILL gateway shard N (from 0) at T into the hold; it is started again
  kill-dispatcher@T     SIGKILL the dispatcher; it is started again on the same address
  stop-gateway:N@T+D    SIGSTOP shard N for D, then SIGCONT (stop-dispatcher@T+D likewise)
The dropped clients redial (--fault turns --reconnect on) after --backoff-min·2^n,
at most --backoff-max, jittered as --backoff-jitter says (none: the whole herd at once).
  imtool bench --netns --conns 20000 --gateway-procs 3 --fault kill-gateway:1@10s --hold 30s
(docs/FAULTS.md; --netns keeps other gateways on this host out of the run's ports and counts).

The defaults finish in about a minute on a 2-core machine. For the headline run
(docs/MILLION.md):
  imtool bench --conns 1000000 --hold 60s --heartbeat 60s --reconnect --netns

Before the swarm, bench opens --conns connections (at most 10,000) with the simplest
epoll dialer there is, into the same gateway, and closes them: the floor the ramp's
rate is compared with ("raw dialer" in the summary). Their sockets linger in TIME_WAIT
for a minute and show in the dashboard's host figures.

--threshold and --json work as in imtool swarm (see its --help).

EXIT STATUS
  0 every connection held, and every --threshold was met
  1 fewer held (the reason is printed)
  2 bad flags, or a host that cannot do it (the reason and the fix are printed)
  3 failed (a service did not start, a shard crashed, …)
  4 a --threshold was not met (the summary marks it ✗); it comes before 1`,
		Flags: append(swarmFlags(bench.DefaultSwarm(), ""),
			&cli.BoolFlag{Name: "broadcast", Usage: "let the gateway accept BROADCAST"},
			&cli.StringSliceFlag{Name: "fault", Usage: "a fault during the hold, measured: " + bench.FaultUsage + "; repeat for more"},
			&cli.StringFlag{Name: "gateway-procs", Value: "auto", Usage: "gateway shards: auto (as many as RLIMIT_NOFILE requires) or a number"},
			&cli.BoolFlag{Name: "netns", Usage: "run in a network namespace of its own (Linux, root): a TCP hash table sized for --conns, reno congestion control, an exact kernel count; the host's settings stay as they are"},
			&cli.StringFlag{Name: "root", Value: "/", Usage: "read the host's limits under this directory (for tests with a fake /proc)", Hidden: true},
		),
		Action: runBench,
	}
}

func runBench(c *cli.Context) error {
	if c.IsSet("target") {
		return usageError(errors.New("bench runs its own gateway on 127.0.0.1: to load another server, use imtool swarm --target"))
	}
	o, err := swarmOptions(c)
	if err != nil {
		return usageError(err)
	}
	if done, err := scenarioCheck(c, o); done {
		return err
	}
	if o.Proto == loadclient.ProtoMQTT {
		return usageError(errors.New("bench runs imtool's own gateway, which does not speak MQTT: load an MQTT broker with imtool swarm --proto mqtt --target BROKER (docs/MQTT.md)"))
	}
	if c.Bool("netns") {
		if !bench.InNetns() {
			code, err := bench.RunInNetns(os.Args[1:], o.Conns)
			if err != nil && code == 0 { // refused before anything ran
				return usageError(err)
			}
			return runExit(code, err)
		}
		note, err := bench.SetUpNetns()
		if err != nil {
			return runExit(runner.ExitFailed, err)
		}
		fmt.Fprintln(os.Stderr, note)
	}
	faults, err := bench.ParseFaults(c.StringSlice("fault"), o.Hold)
	if err != nil {
		return usageError(err)
	}
	if len(faults) > 0 && !o.Reconnect {
		o.Reconnect = true
		fmt.Fprintln(os.Stderr, "bench: --fault turns --reconnect on: dropped clients redial after "+o.Backoff.String())
	}
	auto, gwProcs, err := parseProcs(c.String("gateway-procs"))
	if err != nil {
		return usageError(fmt.Errorf("--gateway-procs %q: give auto or a number of gateway shards ≥ 1", c.String("gateway-procs")))
	}
	if auto {
		gwProcs = 0
	}
	out := c.String("out")
	if out == "" {
		out = filepath.Join("imtool-runs", time.Now().Format("20060102-150405"))
	}
	gwArgs := []string{"--idle-timeout", gatewayIdleTimeout(o.Heartbeat).String()}
	if c.Bool("broadcast") {
		gwArgs = append(gwArgs, "--broadcast")
	}
	if len(o.AuthSecret) > 0 {
		os.Setenv("IMTOOL_AUTH_SECRET", string(o.AuthSecret)) // the gateway reads it from there, never from argv
	}
	ctx, cancel := interruptContext(c.Context, "the bench")
	defer cancel()
	code, err := bench.Run(ctx, bench.Options{
		Root:         c.String("root"),
		GatewayArgs:  gwArgs,
		GatewayProcs: gwProcs,
		Faults:       faults,
		Run: runner.Options{
			Swarm: o, Args: os.Args[1:], Out: out, TUI: c.Bool("tui"), StatsAddr: c.String("stats"),
			Thresholds: thresholds(c), JSON: c.Bool("json"),
			Stderr: os.Stderr,
			Kill:   func() { fmt.Fprintln(os.Stderr, "imtool: exiting at once"); os.Exit(130) },
		},
	})
	return runExit(code, err)
}

// gatewayIdleTimeout is how long the bench's gateway lets a session stay
// silent: three heartbeats, at least the gateway's default; without
// heartbeats (--heartbeat 0) longer than any bench, or the gateway would
// close every session of a long hold as idle.
func gatewayIdleTimeout(heartbeat time.Duration) time.Duration {
	if heartbeat <= 0 {
		return 1000 * time.Hour
	}
	return max(refserver.DefaultIdleTimeout, 3*heartbeat)
}
