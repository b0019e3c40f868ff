package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/tui"
)

// dashCommand attaches the live dashboard to running processes' /stats.
func dashCommand() *cli.Command {
	return &cli.Command{
		Name:      "dash",
		Usage:     "watch running gateways, dispatchers and swarms live",
		UsageText: "imtool dash --server http://127.0.0.1:9100 [--dispatcher URL] [--swarm URL …] [--interval 1s]",
		Description: "dash polls each process's /stats endpoint (the address given to its --stats) and\n" +
			"shows the run: established connections against the target, the connect rate,\n" +
			"errors by class with their fix, latencies, the server's connections, sessions,\n" +
			"memory per connection and shards, the dispatcher link, and this host.\n" +
			"A source that stops answering is shown DOWN with its last numbers, and comes\n" +
			"back when it answers again. Several --swarm URLs (agents) are added up.\n\n" +
			"Keys: q or Ctrl-C quits (the watched processes keep running), ? shows help.\n" +
			"When stdout is not a terminal, dash prints one progress line per interval." +
			exitStatus("0 quit with q or Ctrl-C (the watched processes keep running)", exitUsageLine+", e.g. no source or a bad URL", exitFailedLine),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "the gateway's stats `URL` (a sharded server's parent sums its shards)"},
			&cli.StringFlag{Name: "dispatcher", Usage: "the dispatcher's stats `URL`"},
			&cli.StringSliceFlag{Name: "swarm", Usage: "a swarm's or agent's stats `URL`; repeat for several"},
			&cli.DurationFlag{Name: "interval", Value: stats.PollInterval, Usage: "`DURATION` between polls; each request times out within it"},
			&cli.Int64Flag{Name: "target", Usage: "`N` connections expected, for the progress bar; 0 takes the swarm's target"},
			&cli.StringFlag{Name: "log", Usage: "append sources going down and coming back to `FILE` (never to the screen)"},
		},
		Action: func(c *cli.Context) error {
			ctx, stop := interruptContext(c.Context, "watching")
			defer stop()
			err := tui.Attach(ctx, tui.AttachOptions{
				PollOptions: stats.PollOptions{
					Server:     c.String("server"),
					Dispatcher: c.String("dispatcher"),
					Swarms:     c.StringSlice("swarm"),
					Interval:   c.Duration("interval"),
				},
				Target:  c.Int64("target"),
				Title:   "imtool dash",
				LogFile: c.String("log"),
			})
			if errors.Is(err, stats.ErrNoSource) || errors.Is(err, stats.ErrBadURL) {
				return usageError(err)
			}
			if err != nil {
				return failed(err)
			}
			return nil
		},
	}
}
