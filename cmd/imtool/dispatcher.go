package main

import (
	"log"
	"os"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/refserver"
	"github.com/urfave/cli/v2"
)

func dispatcherCommand() *cli.Command {
	return &cli.Command{
		Name:  "dispatcher",
		Usage: "route messages, broadcasts and kicks between gateways",
		Description: "Gateways started with --dispatcher HOST:PORT dial it, register (id + epoch), sync\n" +
			"their sessions and stream changes. It routes SEND to the gateway holding the\n" +
			"recipient, fans BROADCAST out, and kicks the older session when a uid logs in on a\n" +
			"second gateway. A gateway that dies loses its routes at once; one restarted with the\n" +
			"same id replaces its old registration. The link format is in docs/LINK.md." +
			exitStatus("0 stopped by Ctrl-C or SIGTERM", exitUsageLine, "3 failed: --listen or --stats in use, or the listener broke (the reason is printed)"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:7000", Usage: "address gateways dial"},
			&cli.StringFlag{Name: "stats", Value: "127.0.0.1:9200", Usage: "address for /stats and /metrics ('' to turn off)"},
		},
		Action: func(c *cli.Context) error {
			logger := log.New(os.Stderr, "imtool dispatcher: ", log.LstdFlags)
			d, err := refserver.NewDispatcher(refserver.DispatcherOptions{Listen: c.String("listen"), Logf: logger.Printf})
			if err != nil {
				return failed(err)
			}
			addr, stopStats, err := stats.Serve(c.String("stats"), d.Snapshot)
			if err != nil {
				d.Close()
				return failed(err)
			}
			defer stopStats()
			logger.Printf("listening on %s%s", d.Addr(), statsNote(addr))
			ctx, cancel := interruptContext(c.Context, "the dispatcher")
			defer cancel()
			go func() { <-ctx.Done(); d.Close() }()
			if err := d.Serve(); err != nil {
				return failed(err)
			}
			return nil
		},
	}
}
