package main

import (
	"crypto/tls"
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
		UsageText: "imtool agent --token-file PATH [--listen 0.0.0.0:7070] [--allow-targets CIDR,…] [--grace 10s] [--source-ips …] [--tls-cert FILE --tls-key FILE | --insecure-http]",
		Description: `The agent serves an authenticated HTTPS/JSON control API (docs/AGENTS.md) on --listen.
A coordinator (imtool swarm --agents HOST:7070,…) asks for this host's facts (port range,
RLIMIT_NOFILE, CPUs, memory, source IPs), hands it a slice of the plan, polls its snapshot
twice a second and tells it when to stop. The slice runs with the same engine and shards
as a local swarm. The agent keeps running across runs; it ignores SIGHUP, so it survives
the ssh session that started it (the systemd unit in deploy/systemd is the better way).

SAFETY. Every request must carry the token of --token-file ("Authorization: Bearer …");
without it the answer is 401 and nothing happens. When the file does not exist a random
token is written there (mode 0600): copy it to the coordinator. A token file others may
read, or a token under 32 characters, is refused. The API is served over TLS: with a
self-signed certificate written beside the token file on first start (agent.token:
agent.crt, agent.key), or --tls-cert/--tls-key; the agent logs the certificate's
fingerprint, which the coordinator pins (imtool swarm --agent-fingerprint). Plain HTTP
only with --insecure-http. Plans whose targets are outside --allow-targets are refused
(default: loopback only). When the coordinator has been silent for longer than --grace,
the agent stops its connections by itself.

EXAMPLES
  imtool agent --token-file /etc/imtool/agent.token --allow-targets 10.0.0.0/24
  imtool agent --token-file agent.token --source-ips 10.0.1.2-10.0.1.9 --allow-targets 10.0.0.5

EXIT STATUS
  0 stopped by Ctrl-C or SIGTERM
  2 bad flags, or a --token-file that cannot serve (too short, readable by others, not
    writable): nothing was started; the fix is printed
  3 failed: --listen in use, a TLS certificate that cannot be loaded (the reason is printed)`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: agent.DefaultListen, Usage: "address of the control API"},
			&cli.StringFlag{Name: "token-file", Usage: "file with the shared token (written, mode 0600, when it does not exist)"},
			&cli.StringFlag{Name: "allow-targets", Usage: "networks plans may target: CIDRs or addresses, comma-separated, or any", DefaultText: "loopback only"},
			&cli.DurationFlag{Name: "grace", Value: agent.DefaultGrace, Usage: "stop the run when the coordinator has been silent this long"},
			&cli.StringFlag{Name: "source-ips", Usage: "this host's addresses to dial from, as in imtool swarm", DefaultText: "the kernel's choice"},
			&cli.StringFlag{Name: "tls-cert", Usage: "the control API's TLS certificate (PEM; with --tls-key); default: a self-signed one, written on first start beside --token-file (NAME.crt, NAME.key)"},
			&cli.StringFlag{Name: "tls-key", Usage: "the key of --tls-cert (PEM, private to its owner)"},
			&cli.BoolFlag{Name: "insecure-http", Usage: "serve the control API as plain HTTP: the token travels in clear (only on a network you trust, or behind a tunnel)"},
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
	if (c.String("tls-cert") == "") != (c.String("tls-key") == "") {
		return usageError(fmt.Errorf("--tls-cert and --tls-key go together: give both, or neither for a self-signed certificate"))
	}
	if c.Bool("insecure-http") && c.String("tls-cert") != "" {
		return usageError(fmt.Errorf("--insecure-http serves plain HTTP: drop it, or drop --tls-cert and --tls-key"))
	}
	token, created, err := agent.LoadOrCreateToken(c.String("token-file"))
	if err != nil { // as the coordinator's: a token file that cannot serve is a bad --token-file
		return usageError(err)
	}
	if created {
		logger.Printf("wrote a new token to %s (mode 0600): copy that file to the coordinator and pass it with imtool swarm --agents … --token-file", c.String("token-file"))
	}
	tlsConf, scheme, err := agentTLS(c, logger)
	if err != nil {
		return failed(err)
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
		Version: version, Logf: logger.Printf, TLS: tlsConf,
	})
	if err != nil {
		return failed(err)
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return failed(fmt.Errorf("cannot listen on %s: %w (choose another --listen)", c.String("listen"), err))
	}
	allowed := "loopback only (widen with --allow-targets)"
	if len(allow) > 0 {
		allowed = c.String("allow-targets")
	}
	logger.Printf("listening on %s://%s; targets allowed: %s; grace %s", scheme, ln.Addr(), allowed, c.Duration("grace"))
	ctx, cancel := interruptContext(c.Context, "the agent")
	defer cancel()
	if err := a.Serve(ctx, ln); err != nil {
		return failed(err)
	}
	return nil
}

// agentTLS loads the control API's certificate (--tls-cert/--tls-key, or
// the self-signed one beside the token file, written on first start) and
// logs its fingerprint for the coordinator; with --insecure-http it returns
// nil and says the token travels in clear.
func agentTLS(c *cli.Context, logger *log.Logger) (conf *tls.Config, scheme string, err error) {
	if c.Bool("insecure-http") {
		logger.Printf("--insecure-http: the control API is plain HTTP and the token travels in clear; the coordinator names this agent http://HOST:PORT")
		return nil, "http", nil
	}
	certFile, keyFile := c.String("tls-cert"), c.String("tls-key")
	var cert tls.Certificate
	how := "given"
	if certFile == "" {
		certFile, keyFile = agent.CertFiles(c.String("token-file"))
		var created bool
		if cert, created, err = agent.LoadOrCreateCert(certFile, keyFile); err != nil {
			return nil, "", err
		}
		how = "self-signed"
		if created {
			how = "self-signed, written now"
		}
	} else if cert, err = agent.LoadCert(certFile, keyFile); err != nil {
		return nil, "", err
	}
	fp := agent.Fingerprint(cert.Certificate[0])
	logger.Printf("TLS certificate %s (%s), fingerprint %s: give the coordinator --agent-fingerprint %s", certFile, how, fp, fp)
	return agent.ServerTLS(cert), "https", nil
}

// coordinatorFlags are the flags of `imtool swarm` that run it on agents.
func coordinatorFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "agents", Usage: "run the swarm on these agents instead of this host: HOST:PORT,… (each runs imtool agent; http://HOST:PORT for one with --insecure-http)"},
		&cli.StringFlag{Name: "token-file", Usage: "the agents' token file (with --agents)"},
		&cli.StringFlag{Name: "agent-fingerprint", Usage: "the SHA-256 fingerprints the agents' TLS certificates may have, comma-separated, as each agent prints it at start (with --agents; none: a CA must have signed them)"},
	}
}

// coordinatorOptions reads --agents, --token-file and --agent-fingerprint
// into o; no agents means a swarm on this host.
func coordinatorOptions(c *cli.Context, o *runner.Options) error {
	for _, a := range strings.Split(c.String("agents"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.Agents = append(o.Agents, a)
		}
	}
	if len(o.Agents) == 0 {
		for _, f := range []string{"token-file", "agent-fingerprint"} {
			if c.String(f) != "" {
				return fmt.Errorf("--%s is for --agents: give the agents too", f)
			}
		}
		return nil
	}
	pins, err := agent.ParseFingerprints(c.String("agent-fingerprint"))
	if err != nil {
		return err
	}
	o.AgentFingerprints = pins
	o.AgentToken, err = agent.ReadToken(c.String("token-file"))
	return err
}
