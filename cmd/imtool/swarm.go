package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imtool/imtool/internal/runner"
	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/reports"
	"github.com/imtool/imtool/tui"
)

func swarmCommand() *cli.Command {
	return &cli.Command{
		Name:      "swarm",
		Usage:     "open and hold many client connections against a gateway (or any TCP server), and measure them",
		UsageText: "imtool swarm [--target HOST[:PORTS] …] [--ports 20] [--conns 10000] [--rate 10000] [options]",
		Description: `The swarm plans first, then ramps connections up at --rate (at most --max-inflight
connecting or logging in at once, so a server that falls behind slows the ramp instead
of timing out), holds them for --hold, and closes them (FIN or RST).
With --proto imtool (the default) each connection logs in as uid --uid-base + its index,
PINGs every --heartbeat (spread evenly over the swarm, with jitter) and the swarm sends
--msg-rate messages a second in all to random uids of the swarm; latencies are measured
from the planned send times, so a late sender shows as latency, not as fewer samples.
--proto raw connects and holds only (any TCP server); --msg-rate then sends raw payloads.
--scenario FILE speaks a gateway's own protocol from a scenario file (NATS, Centrifugo,
Socket.IO, goim-style binary, … : examples/protocols/, docs/SCENARIOS.md); --scenario-check
prints the frames connection 0 would send and exits without dialing.

PLAN. Capacity is S·D·P·R: source IPs × target IPs × ports × the local port range.
connect() slows ~8× once one (source, destination) pair uses half the port range, so
connections are spread round-robin over the pairs. For loopback targets the swarm picks
extra sources (127.0.0.2 and up) by itself when needed; otherwise it warns, or refuses
an impossible plan, with the fix. One process holds at most RLIMIT_NOFILE connections:
--procs auto runs ceil(conns·1.1 / (limit − 500)) processes, each with a slice of the plan.

OUTPUT. A dashboard on a terminal (q or Ctrl-C stops gracefully, a second Ctrl-C exits,
p pauses the ramp), else one progress line a second; /stats and /metrics on --stats;
with --out DIR, DIR/run.json (options, environment, time series, summary) and
DIR/series.jsonl. At the end: a summary with errors and their fixes.

THRESHOLDS. --threshold 'FIGURE OP VALUE', repeatable, as k6 has them: pass/fail
criteria on the hold phase's figures, listed in the summary as ✓/✗ and kept in run.json.
  --threshold 'heartbeat.p99<50ms' --threshold 'held==requested' --threshold 'errors==0'
Figures: held, peak_held, requested, established (connects made), dropped, errors, sent, acked, delivered, pings,
pongs, ramp_seconds, connect_rate_mean, connect_rate_peak, client_bytes_per_conn,
server_bytes_per_conn, host_bytes_per_conn, mqtt_lost, mqtt_duplicated, and latencies
KIND.STAT (KIND connect, login, heartbeat, ack, deliver, lag, mqtt_connect, mqtt_puback,
mqtt_pubcomp; STAT p50, p90, p99, p99.9, max, mean; a bare number is milliseconds). OP is <, <=, >, >=, == or !=; VALUE a number or a figure.

JSON. --json prints the summary as one JSON document on stdout (run.json without its
series; docs/RUN-RECORD.md), and the progress line and notes on stderr.

EXIT STATUS
  0 every requested connection was held, and every --threshold was met
  1 fewer were held (the reason is printed)
  2 bad flags or an impossible plan (nothing was dialed)
  3 the run failed (shards crashed, the run directory could not be written, …)
  4 a --threshold was not met (the summary marks it ✗); it comes before 1

EXAMPLES
  imtool server &                     # the reference gateway on 127.0.0.1:9000-9019
  imtool swarm --ports 20             # 10,000 connections, held 60s
  imtool swarm --conns 60000 --procs auto --msg-rate 1000 --out runs/60k
  imtool swarm --target 10.0.0.5:9000-9019 --source-ips 10.0.1.2-10.0.1.9 --conns 500000
  imtool swarm --proto raw --target 127.0.0.1:6379 --conns 1000 --hold 0
  imtool swarm --scenario examples/protocols/nats.yaml --target 127.0.0.1:4222 --msg-rate 100
  imtool swarm --agents h1:7070,h2:7070 --token-file agent.token --target 10.0.0.5 --conns 1000000

AGENTS. With --agents the swarm runs on those hosts (imtool agent; docs/AGENTS.md): each
gets an even slice with its own uids, dials from its own source IPs, and is checked
before anything starts; the totals merge live, and the record breaks them down per host.`,
		Flags:  append(swarmFlags(loadclient.DefaultOptions(), "127.0.0.1:9300"), coordinatorFlags()...),
		Action: runSwarm,
	}
}

// swarmOptions turns flags into options; errors are usage errors.
func swarmOptions(c *cli.Context) (loadclient.Options, error) {
	o := loadclient.DefaultOptions()
	if t := c.StringSlice("target"); len(t) > 0 {
		o.Targets = nil
		for _, v := range t {
			for _, s := range strings.Split(v, " ") {
				if s = strings.TrimSpace(s); s != "" {
					o.Targets = append(o.Targets, s)
				}
			}
		}
	}
	ports, err := parsePorts(c)
	if err != nil {
		return o, err
	}
	o.Ports, o.BasePort = ports, c.Int("base-port")
	if o.SourceIPs, err = loadclient.ParseSourceIPs(c.String("source-ips")); err != nil {
		return o, err
	}
	auto, procs, err := parseProcs(c.String("procs"))
	if err != nil {
		return o, err
	}
	if !auto {
		o.Procs = procs
	}
	o.Conns = c.Int("conns")
	o.Rate = c.Float64("rate")
	o.Proto = c.String("proto")
	if !c.IsSet("proto") {
		for _, t := range o.Targets {
			if strings.HasPrefix(t, "ws://") || strings.HasPrefix(t, "wss://") {
				o.Proto = loadclient.ProtoWS // a WebSocket target speaks WebSocket unless told otherwise
			}
		}
	}
	o.TLS = loadclient.TLSOptions{On: c.Bool("tls"), ServerName: c.String("tls-server-name"), CAFile: c.String("tls-ca"),
		Insecure: c.Bool("tls-insecure"), CertFile: c.String("tls-cert"), KeyFile: c.String("tls-key"),
		MinVersion: c.String("tls-min-version"), Resume: c.Bool("tls-resume"), Groups: c.String("tls-groups")}
	if f := c.String("scenario"); f != "" {
		if c.IsSet("proto") && o.Proto != loadclient.ProtoScenario {
			return o, fmt.Errorf("--proto %s and --scenario %s: the scenario is the protocol, leave --proto out", o.Proto, f)
		}
		sf, _, err := loadclient.LoadScenario(f)
		if err != nil {
			return o, err
		}
		o.Scenario, o.Proto = sf, loadclient.ProtoScenario
	}
	o.MQTT = mqttOptions(c, o.Proto)
	o.WSPath = c.String("ws-path")
	o.Headers = c.StringSlice("header")
	o.WSSubprotocol = c.String("ws-subprotocol")
	o.WSBinary = c.Bool("ws-binary")
	if f := c.String("payload-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return o, fmt.Errorf("--payload-file: %w", err)
		}
		o.PayloadTemplate = string(b)
	}
	o.UIDBase = c.Uint64("uid-base")
	if s := c.String("auth-secret"); s != "" {
		o.AuthSecret = []byte(s)
	}
	o.Heartbeat = c.Duration("heartbeat")
	o.MsgRate = c.Float64("msg-rate")
	o.Payload = c.Int("payload")
	o.Hold = c.Duration("hold")
	o.Close = c.String("close")
	o.Reconnect = c.Bool("reconnect")
	o.Backoff = loadclient.Backoff{Min: c.Duration("backoff-min"), Max: c.Duration("backoff-max"), Jitter: c.String("backoff-jitter")}
	if err := o.Backoff.Check(); err != nil {
		return o, err
	}
	if o.Churn, err = loadclient.ParseChurn(c.String("churn"), c.Int("conns")); err != nil {
		return o, err
	}
	o.Churn.Burst = c.Duration("churn-burst")
	if err := o.Churn.Check(); err != nil {
		return o, err
	}
	o.ConnectTimeout = c.Duration("connect-timeout")
	o.LoginTimeout = c.Duration("login-timeout")
	o.MaxInflight = c.Int("max-inflight")
	o.Engine = c.String("engine")
	o.Loops = c.Int("loops")
	switch {
	case o.Conns < 1:
		return o, fmt.Errorf("--conns %d: give at least 1", o.Conns)
	case o.Rate <= 0:
		return o, fmt.Errorf("--rate %g: give connects per second > 0", o.Rate)
	case o.Payload < 1 && o.MsgRate > 0:
		return o, fmt.Errorf("--payload %d: messages need at least 1 byte", o.Payload)
	}
	for _, expr := range c.StringSlice("threshold") {
		if _, err := reports.ParseThreshold(expr); err != nil {
			return o, err
		}
	}
	return o, nil
}

func runSwarm(c *cli.Context) error {
	if link, ok := shard.Child(); ok {
		return runSwarmShard(link)
	}
	o, err := swarmOptions(c)
	if err != nil {
		return usageError(err)
	}
	if done, err := scenarioCheck(c, o); done {
		return err
	}
	ro := runner.Options{
		Swarm: o, Command: "swarm", Args: os.Args[1:], Out: c.String("out"), TUI: c.Bool("tui"),
		StatsAddr: c.String("stats"),
		Kill:      func() { fmt.Fprintln(os.Stderr, "imtool: exiting at once"); os.Exit(130) },
	}
	if err := coordinatorOptions(c, &ro); err != nil {
		return usageError(err)
	}
	ctx, cancel := interruptContext(c.Context, "the swarm")
	defer cancel()
	ro.Thresholds, ro.JSON = thresholds(c), c.Bool("json")
	code, err := runner.Run(ctx, ro)
	return runExit(code, err)
}

// runSwarmShard is one shard of a swarm a parent runs (runner.ShardCommand):
// its options come from the parent whole, not from flags.
func runSwarmShard(link *shard.Link) error {
	var o loadclient.Options
	if err := link.Options(&o); err != nil {
		return failed(err)
	}
	signal.Ignore(os.Interrupt) // the terminal's Ctrl-C reaches the parent, which tells us to stop
	if err := runner.RunShard(link, o); err != nil {
		return failed(err)
	}
	return nil
}

// thresholds reads --threshold, which swarmOptions has checked.
func thresholds(c *cli.Context) []reports.Threshold {
	var out []reports.Threshold
	for _, expr := range c.StringSlice("threshold") {
		t, _ := reports.ParseThreshold(expr)
		out = append(out, t)
	}
	return out
}

// swarmFlags are the flags of a swarm, with d's values as defaults; bench
// shares them with its own defaults.
func swarmFlags(d loadclient.Options, statsAddr string) []cli.Flag {
	return append(append(append([]cli.Flag{
		&cli.StringSliceFlag{Name: "target", Usage: "server to connect to: HOST or HOST:PORTS (HOST:9000, HOST:9000-9019, HOST:9000,9005); repeat for more", DefaultText: loadclient.DefaultTarget},
	}, portFlags("ports of targets that name none")...),
		&cli.IntFlag{Name: "conns", Value: d.Conns, Usage: "connections of the whole swarm (all processes)"},
		&cli.Float64Flag{Name: "rate", Value: d.Rate, Usage: "connects per second, at most (see --max-inflight)"},
		&cli.StringFlag{Name: "source-ips", Usage: "local addresses to dial from, round-robin: a range (127.0.0.2-127.0.0.40), a CIDR or a list", DefaultText: "the kernel's choice; loopback targets get 127.0.0.2… when needed"},
		&cli.StringFlag{Name: "proto", Value: loadclient.ProtoIMTool, Usage: "imtool (LOGIN, heartbeats, messages), raw (connect and hold), ws (WebSocket: upgrade, pings, messages timed by their echo; the default for ws:// targets), ws+imtool (imtool frames in WebSocket binary messages: imtool server --ws-ports) or mqtt (MQTT 3.1.1/5 to a broker: docs/MQTT.md); another gateway's own protocol: --scenario"},
		&cli.StringFlag{Name: "ws-path", Usage: "WebSocket request path and query, {uid} and {i} filled per connection (default: the ws:// target's path, else /)"},
		&cli.StringSliceFlag{Name: "header", Usage: "extra WebSocket request header 'Name: value' ({uid}, {i} filled per connection; repeat for more): cookies, tokens"},
		&cli.StringFlag{Name: "ws-subprotocol", Usage: "Sec-WebSocket-Protocol to ask for; the server must choose it (ws+imtool: imtool)"},
		&cli.StringFlag{Name: "scenario", Usage: "speak a gateway's own protocol from this scenario file (YAML: framing, steps on open, heartbeats both ways, messages, error rules; examples/protocols/, docs/SCENARIOS.md)"},
		&cli.BoolFlag{Name: "scenario-check", Usage: "with --scenario: print what connection 0 would send (each step, the heartbeat, a message) and exit without dialing"},
		&cli.StringFlag{Name: "payload-file", Usage: "WebSocket message text from this file, with {uid}, {i}, {seq}, {ts} filled per message (echoes are timed when {ts} follows only fixed text); default: {ts} and x's to --payload bytes"},
		&cli.BoolFlag{Name: "ws-binary", Usage: "send WebSocket messages as binary instead of text"},
		&cli.Uint64Flag{Name: "uid-base", Value: loadclient.DefaultUIDBase, Usage: "uid of the first connection; connection i logs in as uid-base+i"},
		&cli.StringFlag{Name: "auth-secret", EnvVars: []string{runner.EnvAuthSecret}, Usage: "the gateway's secret: tokens = hex(HMAC-SHA256(secret, uid)); prefer the environment variable"},
		&cli.DurationFlag{Name: "heartbeat", Value: d.Heartbeat, Usage: "PING interval per connection (0: none)"},
		&cli.Float64Flag{Name: "msg-rate", Value: d.MsgRate, Usage: "messages per second of the whole swarm, to random uids of the swarm, once the ramp is over (raw: payloads)"},
		&cli.IntFlag{Name: "payload", Value: loadclient.DefaultPayload, Usage: "message payload in bytes"},
		&cli.DurationFlag{Name: "hold", Value: d.Hold, Usage: "how long to hold the connections after the ramp (0: until Ctrl-C)"},
		&cli.StringFlag{Name: "close", Value: loadclient.CloseFIN, Usage: "how to close: fin (orderly) or rst (SO_LINGER 0, no TIME_WAIT)"},
		&cli.BoolFlag{Name: "reconnect", Usage: "redial dropped and failed connections, after --backoff-min·2^n (at most --backoff-max), jittered"},
		&cli.DurationFlag{Name: "backoff-min", Value: loadclient.DefaultBackoffMin, Usage: "wait before the first redial (--reconnect); 0 redials at once, every time"},
		&cli.DurationFlag{Name: "backoff-max", Value: loadclient.DefaultBackoffMax, Usage: "cap of the doubling wait between redials"},
		&cli.StringFlag{Name: "backoff-jitter", Value: loadclient.DefaultBackoffJitter, Usage: "full (uniform 0..wait), equal (wait/2 + uniform 0..wait/2) or none (every dropped client redials together)"},
		&cli.StringFlag{Name: "churn", Usage: "during the hold, close (as --close says) and redial connections at this rate: 2%/min of --conns, or 50/s"},
		&cli.DurationFlag{Name: "churn-burst", Usage: "churn in bursts: each period's share at once", DefaultText: "0s, evenly"},
		&cli.DurationFlag{Name: "connect-timeout", Value: loadclient.DefaultConnectTimeout, Usage: "time allowed for one connect"},
		&cli.DurationFlag{Name: "login-timeout", Value: loadclient.DefaultLoginTimeout, Usage: "time allowed from LOGIN to LOGIN_OK"},
		&cli.IntFlag{Name: "max-inflight", Value: loadclient.DefaultMaxInflight, Usage: "connections connecting or logging in at once, at most (whole swarm)"},
		&cli.StringFlag{Name: "procs", Value: "auto", Usage: "processes: auto (as many as RLIMIT_NOFILE requires) or a number"},
		&cli.StringFlag{Name: "engine", Value: loadclient.EngineAuto, Usage: "auto (epoll on Linux, portable elsewhere), epoll (Linux: one event loop per core, flat per-connection state) or portable (net.Dialer, goroutines)"},
		&cli.BoolFlag{Name: "tls", Usage: "TLS for every protocol (also: wss:// and tls:// targets), on either engine"},
		&cli.StringFlag{Name: "tls-server-name", Usage: "SNI and the name the server's certificate must carry (default: the target's host)"},
		&cli.StringFlag{Name: "tls-ca", Usage: "PEM file of the CAs to trust instead of the system's"},
		&cli.BoolFlag{Name: "tls-insecure", Usage: "accept any server certificate (measure without checking)"},
		&cli.StringFlag{Name: "tls-cert", Usage: "client certificate (PEM), for gateways that require one (with --tls-key)"},
		&cli.StringFlag{Name: "tls-key", Usage: "the client certificate's key (PEM)"},
		&cli.StringFlag{Name: "tls-min-version", Value: "1.2", Usage: "lowest TLS version: 1.0, 1.1, 1.2 or 1.3"},
		&cli.StringFlag{Name: "tls-groups", Usage: "key exchange groups to offer: x25519, x25519mlkem768, p256, p384, p521, comma-separated (default: Go's, the hybrid X25519MLKEM768 first; x25519 alone makes a cheaper key share)"},
		&cli.BoolFlag{Name: "tls-resume", Usage: "resume TLS sessions on redial (a session cache per process), so reconnect storms are measured both ways"},
		&cli.IntFlag{Name: "loops", Usage: "event loops per process", DefaultText: "one per CPU"},
		&cli.StringFlag{Name: "out", Usage: "directory for the run record (run.json, series.jsonl; docs/RUN-RECORD.md)"},
		&cli.StringFlag{Name: "stats", Value: statsAddr, Usage: "address for /stats and /metrics ('' to turn off)"},
		&cli.BoolFlag{Name: "tui", Value: tui.IsTerminal(os.Stdout), DefaultText: "when stdout is a terminal", Usage: "show the live dashboard; --tui=false prints a line a second"},
		&cli.StringSliceFlag{Name: "threshold", Usage: "pass/fail criterion on the hold phase, e.g. 'heartbeat.p99<50ms' or 'held==requested'; repeat for more (see THRESHOLDS)"},
		&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON on stdout (progress and notes go to stderr)"},
	), mqttFlags()...)
}

// scenarioCheck runs --scenario-check: done tells the command to stop there.
func scenarioCheck(c *cli.Context, o loadclient.Options) (done bool, err error) {
	if !c.Bool("scenario-check") {
		return false, nil
	}
	if o.Scenario == nil {
		return true, usageError(fmt.Errorf("--scenario-check needs --scenario FILE"))
	}
	if err := loadclient.CheckScenario(c.App.Writer, o); err != nil {
		return true, usageError(err)
	}
	return true, nil
}
