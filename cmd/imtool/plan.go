package main

import (
	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/tuner"
	"github.com/urfave/cli/v2"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "work out client hosts, source IPs, ports, processes and memory for a target, and the commands to run",
		Description: "The capacity arithmetic of a test. A client host holds at most S·D·P·R connections\n" +
			"(S source IPs, D server IPs, P server ports, R ephemeral ports) and connects fast only\n" +
			"while each (source IP, server ip:port) pair stays under R/2. plan reports connections per\n" +
			"client host and per pair, whether they fit and stay under half the range, descriptors and\n" +
			"processes needed under the current RLIMIT_NOFILE, memory per host (≈ 4 KB of kernel\n" +
			"memory per socket, both ends when the swarm shares the server's host) and, for each host,\n" +
			"the exact `imtool tune apply` and `imtool swarm` commands. A loopback --target means\n" +
			"server and swarm run on this host.\n\n" +
			"The first line answers the question the flags ask, for the range given: how many client\n" +
			"hosts (or, on one host, source IPs) the connections need to fit the port range, and to\n" +
			"stay under half of it. --json prints the same plan with snake_case keys; the answer is\n" +
			"\"headline\", its numbers \"needed_to_fit\" and \"needed_under_half\"." +
			exitStatus("0 the plan was printed (whether it fits is in it)", exitUsageLine),
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "conns", Value: 1000000, Usage: "connections in total"},
			&cli.StringFlag{Name: "server-ports", Value: "20", Usage: "the server's ports: " + portspec.Usage},
			&cli.IntFlag{Name: "base-port", Value: 9000, Usage: "first port when --server-ports is a count"},
			&cli.IntFlag{Name: "server-ips", Value: 1, Usage: "server addresses the swarm spreads over (D)"},
			&cli.IntFlag{Name: "source-ips", Value: 1, Usage: "source addresses per client host (S)"},
			&cli.IntFlag{Name: "client-hosts", Value: 1, Usage: "hosts running a swarm (H); connections are split evenly"},
			&cli.StringFlag{Name: "port-range", Usage: "ephemeral port range LO-HI of the client hosts", DefaultText: "this host's live range"},
			&cli.StringFlag{Name: "target", Value: "127.0.0.1", Usage: "address the swarm dials; loopback puts both ends on this host"},
			&cli.StringFlag{Name: "root", Value: "/", Usage: "read /proc (RLIMIT_NOFILE, the live port range) under this directory"},
			&cli.BoolFlag{Name: "json", Usage: "print the plan as JSON"},
		},
		Action: func(c *cli.Context) error {
			ports, err := portspec.ParseFlag("server-ports", c.String("server-ports"), "base-port", c.Int("base-port"))
			if err != nil {
				return usageError(err)
			}
			p, err := tuner.Plan(tuner.PlanOptions{Root: c.String("root"), Conns: c.Int("conns"), ServerPorts: ports,
				ServerIPs: c.Int("server-ips"), SourceIPs: c.Int("source-ips"), ClientHosts: c.Int("client-hosts"),
				PortRange: c.String("port-range"), Target: c.String("target")})
			if err != nil {
				return usageError(err)
			}
			if c.Bool("json") {
				err = p.WriteJSON(c.App.Writer)
			} else {
				err = p.WriteText(c.App.Writer)
			}
			if err != nil {
				return failed(err)
			}
			return nil
		},
	}
}
