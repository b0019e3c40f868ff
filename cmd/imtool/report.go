package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/reports"
	"github.com/urfave/cli/v2"
)

// Exit code of `report compare --fail-on-regression` when a figure got worse.
const exitRegression = 3

// reportOptions is what `imtool report` and `imtool report compare` were asked.
type reportOptions struct {
	runs      []string // one run, or two to compare (baseline first)
	format    string
	out       string  // "" writes to stdout
	threshold float64 // compare: relative worsening that counts as a regression
	failOnReg bool
}

func reportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: reports.FormatText, Usage: "text, md or html"},
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the report to `FILE` instead of stdout"},
	}
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "render a run record as text, Markdown or one self-contained HTML page, or compare two runs",
		ArgsUsage: "RUN_DIR_OR_JSON",
		Description: "Reads the run directory that swarm or bench wrote (--out DIR), or its run.json.\n" +
			"A run that was interrupted or crashed is rebuilt from its series.jsonl and marked\n" +
			"INCOMPLETE.\n\n" +
			"  text  the end-of-run summary swarm and bench print\n" +
			"  md    summary, latency and error tables and the environment, with the charts as PNG\n" +
			"        files in a directory beside the report: --out docs/run.md puts them in\n" +
			"        docs/run-charts/; without --out the Markdown goes to stdout without charts and\n" +
			"        nothing is written to disk\n" +
			"  html  one file with the tables and the charts inlined as SVG; it loads nothing from\n" +
			"        elsewhere, so it opens offline and can be attached anywhere\n\n" +
			"Examples:\n" +
			"  imtool report runs/20k\n" +
			"  imtool report runs/20k --format html --out 20k.html\n" +
			"  imtool report compare runs/20k runs/40k --fail-on-regression 10%",
		Flags:           reportFlags(),
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			opts, err := reportArgs(c, 1, "RUN_DIR_OR_JSON")
			if err != nil {
				return err
			}
			return runReport(c.App.Writer, opts)
		},
		Subcommands: []*cli.Command{{
			Name:      "compare",
			Usage:     "set two runs side by side: each figure of A and B, the difference, the ratio and a verdict",
			ArgsUsage: "A B",
			Description: "A is the baseline. Each figure — connections held, connect rate, ramp time, memory\n" +
				"per connection (client, server, host), latency p50/p99/p99.9 per kind, errors and drops —\n" +
				"is flagged REGRESSION when B is worse than A by more than the threshold (10% unless\n" +
				"--fail-on-regression says otherwise); worse means lower for rates and higher for the rest.\n" +
				"With --fail-on-regression the command exits 3 when any figure is flagged, for CI.",
			Flags: append(reportFlags(), &cli.StringFlag{Name: "fail-on-regression", Usage: "exit 3 when a figure got worse by more than `PCT` (10% or 10)"}),
			Action: func(c *cli.Context) error {
				opts, err := reportArgs(c, 2, "A B")
				if err != nil {
					return err
				}
				return runReport(c.App.Writer, opts)
			},
		}},
	}
}

// reportArgs reads the options. Flags may follow the runs
// (`imtool report RUN --format html`), which urfave/cli leaves among the
// arguments: they are set here.
func reportArgs(c *cli.Context, nRuns int, usage string) (reportOptions, error) {
	var opts reportOptions
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			opts.runs = append(opts.runs, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return opts, usageError(fmt.Errorf("flag %s needs a value", a))
			}
			i++
			value = args[i]
		}
		if err := c.Set(canonicalFlag(c, name), value); err != nil {
			return opts, usageError(fmt.Errorf("unknown flag %s: see %s --help", a, c.Command.HelpName))
		}
	}
	if len(opts.runs) != nRuns {
		return opts, usageError(fmt.Errorf("give %s (got %d argument(s)): see %s --help", usage, len(opts.runs), c.Command.HelpName))
	}
	opts.format, opts.out = c.String("format"), c.String("out")
	switch opts.format {
	case reports.FormatText, reports.FormatMarkdown, reports.FormatHTML:
	default:
		return opts, usageError(fmt.Errorf("--format %q: use text, md or html", opts.format))
	}
	opts.threshold = reports.DefaultThreshold
	if c.IsSet("fail-on-regression") {
		pct, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(c.String("fail-on-regression")), "%"), 64)
		if err != nil || pct < 0 {
			return opts, usageError(fmt.Errorf("--fail-on-regression %q: give a percentage such as 10%%", c.String("fail-on-regression")))
		}
		opts.threshold, opts.failOnReg = pct/100, true
	}
	return opts, nil
}

// canonicalFlag maps an alias (-o) to the flag's name (out), under which
// urfave/cli reads the value.
func canonicalFlag(c *cli.Context, name string) string {
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), name) {
			return f.Names()[0]
		}
	}
	return name
}

// runReport loads the runs, renders the report and, for a comparison,
// turns a regression into exit code 3 when asked.
func runReport(stdout io.Writer, opts reportOptions) (err error) {
	recs := make([]*stats.Record, len(opts.runs))
	for i, path := range opts.runs {
		if recs[i], err = reports.Load(path); err != nil {
			return cli.Exit(err.Error(), 1)
		}
	}
	w := stdout
	if opts.out != "" {
		if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
			return cli.Exit(fmt.Sprintf("cannot write the report: %v", err), 1)
		}
		f, err := os.Create(opts.out)
		if err != nil {
			return cli.Exit(fmt.Sprintf("cannot write the report: %v", err), 1)
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = cli.Exit(fmt.Sprintf("cannot write the report: %v", cerr), 1)
			}
		}()
		w = f
	}
	if len(recs) == 1 {
		if err := reports.Render(w, recs[0], opts.format, chartDir(opts)); err != nil {
			return cli.Exit(err.Error(), 1)
		}
		return nil
	}
	cmp := reports.Compare(recs[0], recs[1])
	cmp.Threshold = opts.threshold
	if err := reports.RenderComparison(w, cmp, opts.format); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if reg := cmp.Regressions(); opts.failOnReg && len(reg) > 0 {
		names := make([]string, len(reg))
		for i, d := range reg {
			names[i] = d.Figure
		}
		return cli.Exit(fmt.Sprintf("B regressed beyond %s%%: %s", strconv.FormatFloat(opts.threshold*100, 'g', -1, 64),
			strings.Join(names, ", ")), exitRegression)
	}
	return nil
}

// chartDir is where Markdown charts go: NAME-charts beside --out NAME.md.
// A report to stdout has none: it writes nothing to disk.
func chartDir(opts reportOptions) string {
	if opts.out == "" {
		return ""
	}
	return strings.TrimSuffix(opts.out, filepath.Ext(opts.out)) + "-charts"
}
