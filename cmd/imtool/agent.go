package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/imtool/imtool/internal/runner"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:      "agent",
		Usage:     "run slices of a swarm on this host for a coordinating `imtool swarm --agents`",
		UsageText: "imtool agent --token-file PATH [--listen 0.0.0.0:7070] [--allow-targets CIDR,…] [--grace 10s] [--source-ips …]",
		Description: `The agent serves an authenticated HTTP/JSON control API (docs/AGENTS.md) on --listen.
A coordinator (imtool swarm --agents HOST:7070,…) asks for this host's facts (port range,
RLIMIT_NOFILE, CPUs, memory, source IPs), hands it a slice of the plan, polls its snapshot
twice a second and tells it when to stop. The slice runs with the same engine and shards
as a local swarm. The agent keeps running across runs; it ignores SIGHUP, so it survives
the ssh session that started it (the systemd unit in deploy/systemd is the better way).

SAFETY. Every request must carry the token of --token-file ("Authorization: Bearer …");
without it the answer is 401 and nothing happens. When the file does not exist a random
token is written there (mode 0600): copy it to the coordinator. Plans whose targets are
outside --allow-targets are refused (default: loopback only). When the coordinator has
been silent for longer than --grace, the agent stops its connections by itself.

EXAMPLES
  imtool agent --token-file /etc/imtool/agent.token --allow-targets 10.0.0.0/24
  imtool agent --token-file agent.token --source-ips 10.0.1.2-10.0.1.9 --allow-targets 10.0.0.5`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: agent.DefaultListen, Usage: "address of the control API"},
			&cli.StringFlag{Name: "token-file", Usage: "file with the shared token (written, mode 0600, when it does not exist)"},
			&cli.StringFlag{Name: "allow-targets", Usage: "networks plans may target: CIDRs or addresses, comma-separated, or any (default: loopback only)"},
			&cli.DurationFlag{Name: "grace", Value: agent.DefaultGrace, Usage: "stop the run when the coordinator has been silent this long"},
			&cli.StringFlag{Name: "source-ips", Usage: "this host's addresses to dial from, as in imtool swarm (default: the kernel's choice)"},
		},
		Action: runAgent,
	}
}

func runAgent(c *cli.Context) error {
	signal.Ignore(syscall.SIGHUP) // outlive the ssh session that started us
	logger := log.New(os.Stderr, "imtool agent: ", log.LstdFlags)
	if c.String("token-file") == "" {
		return usageError(fmt.Errorf("--token-file is required: the control API obeys only requests that carry its token"))
	}
	allow, err := agent.ParseAllowTargets(c.String("allow-targets"))
	if err != nil {
		return usageError(err)
	}
	sources, err := loadclient.ParseSourceIPs(c.String("source-ips"))
	if err != nil {
		return usageError(err)
	}
	if c.Duration("grace") <= 0 {
		return usageError(fmt.Errorf("--grace %v: give a duration > 0", c.Duration("grace")))
	}
	token, created, err := agent.LoadOrCreateToken(c.String("token-file"))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if created {
		logger.Printf("wrote a new token to %s (mode 0600): copy that file to the coordinator and pass it with imtool swarm --agents … --token-file", c.String("token-file"))
	}
	a, err := agent.New(agent.Options{
		Token: token, AllowTargets: allow, Grace: c.Duration("grace"), SourceIPs: sources,
		Start: func(o loadclient.Options) (agent.Run, error) {
			s, err := runner.StartSlice(o, os.Stderr)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Version: version, Logf: logger.Printf,
	})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("cannot listen on %s: %v (choose another --listen)", c.String("listen"), err), 1)
	}
	allowed := "loopback only (widen with --allow-targets)"
	if len(allow) > 0 {
		allowed = c.String("allow-targets")
	}
	logger.Printf("listening on http://%s; targets allowed: %s; grace %s", ln.Addr(), allowed, c.Duration("grace"))
	ctx, cancel := interruptContext(c.Context, "the agent")
	defer cancel()
	if err := a.Serve(ctx, ln); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return nil
}

// coordinatorFlags are the flags of `imtool swarm` that run it on agents.
func coordinatorFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "agents", Usage: "run the swarm on these agents instead of this host: HOST:PORT,… (each runs imtool agent)"},
		&cli.StringFlag{Name: "token-file", Usage: "the agents' token file (with --agents)"},
	}
}

// coordinatorOptions reads --agents and --token-file; no agents means a
// swarm on this host.
func coordinatorOptions(c *cli.Context) (agents []string, token string, err error) {
	for _, a := range strings.Split(c.String("agents"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			agents = append(agents, a)
		}
	}
	if len(agents) == 0 {
		if c.String("token-file") != "" {
			return nil, "", fmt.Errorf("--token-file is for --agents: give the agents too")
		}
		return nil, "", nil
	}
	token, err = agent.ReadToken(c.String("token-file"))
	return agents, token, err
}
