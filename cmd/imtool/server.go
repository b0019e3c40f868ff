package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/wire"
	"github.com/imtool/imtool/refserver"
	"github.com/urfave/cli/v2"
)

const shutdownGrace = 5 * time.Second

func serverCommand() *cli.Command {
	return &cli.Command{
		Name:  "server",
		Usage: "run the reference IM gateway on many ports (sharded over processes with --procs)",
		Description: "The gateway speaks the imtool protocol (docs/PROTOCOL.md): LOGIN first and in time,\n" +
			"PING/PONG, SEND → ACK + DELIVER, BROADCAST, LOGOUT, newest login wins (KICK 8), idle\n" +
			"timeout, ERROR 9 to everyone on Ctrl-C/SIGTERM. GET /stats (JSON) and /metrics\n" +
			"(Prometheus) are served on --stats.\n\n" +
			"One process holds at most RLIMIT_NOFILE connections (less a reserve). --procs auto runs\n" +
			"enough gateway processes for --max-conns, all on the same ports (SO_REUSEPORT), joined\n" +
			"by a dispatcher (started here unless --dispatcher is given); /stats then sums them and\n" +
			"lists each in \"shards\"." +
			exitStatus("0 stopped by Ctrl-C or SIGTERM, every session told (ERROR 9)",
				"2 bad flags, or options this host cannot serve (RLIMIT_NOFILE, --max-conns): nothing listened",
				"3 failed: a port or the --stats address in use, a shard that could not start (the reason and the fix are printed)"),
		Flags: append(portFlags("ports to listen on"),
			&cli.StringFlag{Name: "ws-ports", Usage: "ports where the same protocol travels in WebSocket binary messages (RFC 6455, any path, subprotocol imtool): a range (9100-9119), a list, or a count from 9100; without --ports, the gateway listens on these only"},
			&cli.StringFlag{Name: "listen", Value: "0.0.0.0", Usage: "address to listen on"},
			&cli.StringFlag{Name: "stats", Value: "127.0.0.1:9100", Usage: "address for /stats and /metrics ('' to turn off)"},
			&cli.StringFlag{Name: "dispatcher", Usage: "HOST:PORT of a dispatcher to join (see imtool dispatcher)"},
			&cli.StringFlag{Name: "gateway-id", Usage: "this gateway's name at the dispatcher", DefaultText: "gw-PID"},
			&cli.StringFlag{Name: "auth-secret", EnvVars: []string{"IMTOOL_AUTH_SECRET"}, Usage: "accept only tokens = hex(HMAC-SHA256(secret, uid)); prefer the environment variable"},
			&cli.BoolFlag{Name: "broadcast", Usage: "accept BROADCAST (otherwise it is answered with ACK 5)"},
			&cli.IntFlag{Name: "max-frame", Value: wire.DefaultMaxFrame, Usage: "largest frame accepted, in bytes"},
			&cli.DurationFlag{Name: "login-timeout", Value: refserver.DefaultLoginTimeout, Usage: "time allowed for the first frame (LOGIN)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: refserver.DefaultIdleTimeout, Usage: "a session silent this long is closed with ERROR 7"},
			&cli.IntFlag{Name: "max-conns", Usage: "connections to accept in all; the excess gets ERROR 10", DefaultText: "what RLIMIT_NOFILE allows one process"},
			&cli.StringFlag{Name: "procs", Value: "1", Usage: "gateway processes: a number, or auto for enough to hold --max-conns"},
			&cli.IntFlag{Name: "loops", Usage: "event loops per process", DefaultText: "one per CPU but one, which runs the dispatcher link and /stats"},
			&cli.BoolFlag{Name: "restart-shards", Usage: "start a gateway shard again when it dies (not when it stops cleanly), as a supervisor would; a shard that dies within a second of its restart is left down"},
		),
		Action: runServer,
	}
}

func runServer(c *cli.Context) error {
	logger := log.New(os.Stderr, "imtool server: ", log.LstdFlags)
	if link, ok := shard.Child(); ok {
		var opts refserver.Options
		if err := link.Options(&opts); err != nil {
			return failed(err)
		}
		opts.Logf = logger.Printf
		return runGatewayShard(link, opts)
	}
	ports, err := parsePorts(c)
	if err != nil {
		return usageError(err)
	}
	var wsPorts []uint16
	if w := c.String("ws-ports"); w != "" {
		if wsPorts, err = portspec.Parse(w, wsBasePort); err != nil {
			return usageError(fmt.Errorf("--ws-ports: %w", err))
		}
		if !c.IsSet("ports") {
			ports = nil // WebSocket only, unless plain ports are asked for too
		}
	}
	auto, procs, err := parseProcs(c.String("procs"))
	if err != nil {
		return usageError(err)
	}
	opts := refserver.Options{
		Listen:       c.String("listen"),
		Ports:        ports,
		WSPorts:      wsPorts,
		GatewayID:    c.String("gateway-id"),
		Dispatcher:   c.String("dispatcher"),
		Broadcast:    c.Bool("broadcast"),
		MaxFrame:     c.Int("max-frame"),
		LoginTimeout: c.Duration("login-timeout"),
		IdleTimeout:  c.Duration("idle-timeout"),
		MaxConns:     c.Int("max-conns"),
		Loops:        c.Int("loops"),
		Logf:         logger.Printf,
	}
	if s := c.String("auth-secret"); s != "" {
		opts.AuthSecret = []byte(s)
	}
	perProc := 0
	if auto {
		if procs, perProc, err = refserver.PlanProcs(opts.MaxConns, len(ports)+len(wsPorts)); err != nil {
			return usageError(err)
		}
	}
	if procs > 1 || c.Bool("restart-shards") { // one supervised shard is a cluster of one
		if perProc == 0 {
			_, perProc, _ = refserver.PlanProcs(0, len(ports)+len(wsPorts))
		}
		return runCluster(c, opts, procs, perProc, logger)
	}
	return runGateway(c.Context, opts, c.String("stats"), logger)
}

func runGateway(parent context.Context, opts refserver.Options, statsAddr string, logger *log.Logger) error {
	g, err := refserver.NewGateway(opts)
	if err != nil {
		return usageError(err)
	}
	addr, stopStats, err := stats.Serve(statsAddr, g.Snapshot)
	if err != nil {
		return failed(err)
	}
	defer stopStats()
	ctx, cancel := interruptContext(parent, "the gateway")
	defer cancel()
	go func() {
		select {
		case <-g.Ready():
			logger.Printf("gateway %s listening on %s ports %s%s%s", g.Snapshot().ID, opts.Listen, portspec.String(opts.Ports), wsNote(opts), statsNote(addr))
		case <-g.Done():
		}
	}()
	if err := g.Run(ctx, shutdownGrace); err != nil {
		return failed(err)
	}
	return nil
}

// runGatewayShard is one process of a sharded gateway: it reports to its
// parent and stops when told to or when the parent goes away
// (lifecycle.Obey).
func runGatewayShard(link *shard.Link, opts refserver.Options) error {
	g, err := refserver.NewGateway(opts)
	if err != nil {
		return usageError(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go lifecycle.Obey(link.Commands, link.Publish, gatewayRun{g, cancel})
	go func() { <-g.Ready(); link.Publish(g.Snapshot()) }()
	interrupted, stop := interruptContext(ctx, "the gateway shard")
	defer stop()
	if err := g.Run(interrupted, shutdownGrace); err != nil {
		return failed(err)
	}
	link.Publish(g.Snapshot())
	return nil
}

// gatewayRun is a gateway shard as its parent drives it: Stop shuts it
// down gracefully; the other commands are the swarm's and do not apply.
type gatewayRun struct {
	*refserver.Gateway
	stop context.CancelFunc
}

func (g gatewayRun) Command(c lifecycle.Command) {
	if c == lifecycle.Stop {
		g.stop()
	}
}

func runCluster(c *cli.Context, opts refserver.Options, procs, perProc int, logger *log.Logger) error {
	cl, err := refserver.StartCluster(refserver.ClusterOptions{
		Procs: procs, Dispatcher: opts.Dispatcher, Gateway: opts, PerProc: perProc, Command: []string{"server"}, Logf: logger.Printf,
	})
	if err != nil {
		return failed(err)
	}
	addr, stopStats, err := stats.Serve(c.String("stats"), cl.Snapshot)
	if err != nil {
		cl.Stop()
		return failed(err)
	}
	defer stopStats()
	logger.Printf("%d gateway processes (pids %v) on %s ports %s%s, up to %d connections each%s",
		procs, cl.PIDs(), opts.Listen, portspec.String(opts.Ports), wsNote(opts), perProc, statsNote(addr))
	ctx, cancel := interruptContext(c.Context, "the gateway cluster")
	defer cancel()
	restarted := map[int]time.Time{} // shard → when it was last restarted
	for {
		select {
		case e := <-cl.Exits():
			switch {
			case !c.Bool("restart-shards") || e.Err == nil:
				logger.Printf("gateway shard %d (pid %d) ended: %v — not restarted; the others go on", e.Index, e.PID, exitText(e.Err))
			case time.Since(restarted[e.Index]) < time.Second:
				logger.Printf("gateway shard %d (pid %d) ended again within a second of its restart: %v — left down; the others go on", e.Index, e.PID, exitText(e.Err))
			default:
				restarted[e.Index] = time.Now()
				if err := cl.Restart(e.Index); err != nil {
					logger.Printf("gateway shard %d (pid %d) ended: %v — %v", e.Index, e.PID, exitText(e.Err), err)
				} else {
					logger.Printf("gateway shard %d (pid %d) ended: %v — restarted", e.Index, e.PID, exitText(e.Err))
				}
			}
		case <-ctx.Done():
			if err := cl.Stop(); err != nil {
				return failed(fmt.Errorf("gateway shards failed: %w", err))
			}
			return nil
		}
	}
}

func statsNote(addr string) string {
	if addr == "" {
		return ""
	}
	return fmt.Sprintf("; stats http://%s/stats", addr)
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// wsBasePort is where a count in --ws-ports starts.
const wsBasePort = 9100

// wsNote names the WebSocket ports for the log line, if any.
func wsNote(o refserver.Options) string {
	if len(o.WSPorts) == 0 {
		return ""
	}
	return " (WebSocket on " + portspec.String(o.WSPorts) + ")"
}
