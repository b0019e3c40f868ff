package main

import (
	"errors"
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

// reportOptions is what `imtool report` and `imtool report compare` were asked.
type reportOptions struct {
	runs      []string // one run, or two to compare (baseline first)
	format    string
	out       string  // "" writes to stdout
	threshold float64 // compare: relative worsening that counts as a regression
	failOnReg bool
	noise     float64 // compare: relative change called "same"
}

func reportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: reports.FormatText, Usage: "text, md, html or json"},
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the report to `FILE` instead of stdout"},
	}
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "render a run record as text, Markdown, one self-contained HTML page or JSON, or compare two runs",
		ArgsUsage: "RUN_DIR_OR_JSON",
		Description: "Reads the run directory that swarm or bench wrote (--out DIR), or its run.json.\n" +
			"A run that was interrupted or crashed is rebuilt from its series.jsonl and marked\n" +
			"INCOMPLETE.\n\n" +
			"  text  the end-of-run summary swarm and bench print\n" +
			"  md    summary, latency and error tables, environment and tune check, with the charts\n" +
			"        as PNG files in a directory beside the report: --out docs/run.md puts them in\n" +
			"        docs/run-charts/; without --out the Markdown goes to stdout without charts and\n" +
			"        nothing is written to disk\n" +
			"  html  one file with the tables and the charts inlined as SVG; it loads nothing from\n" +
			"        elsewhere, so it opens offline and can be attached anywhere\n" +
			"  json  run.json without its per-second series: options, environment, summary,\n" +
			"        thresholds (docs/RUN-RECORD.md); what swarm --json and bench --json print\n\n" +
			"A directory without run.json is answered with the runs inside it.\n\n" +
			"Examples:\n" +
			"  imtool report runs/20k\n" +
			"  imtool report runs/20k --format html --out 20k.html\n" +
			"  imtool report compare runs/20k runs/40k --fail-on-regression 10%" +
			exitStatus("0 the report was written", "2 bad flags, or a path that is not a run (the runs inside it are listed)",
				"3 the record cannot be read (damaged, or from a newer imtool) or the report cannot be written"),
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
				"per connection (client, server, host), latency p50/p99/p99.9 per kind during the hold\n" +
				"(every connection up, the ramp left out), errors and drops — is flagged REGRESSION when\n" +
				"B is worse than A by more than the threshold (10% unless --fail-on-regression says\n" +
				"otherwise); worse means lower for rates and higher for the rest. A change within the\n" +
				"noise margin (--noise, 5%), or under 5 ms for a latency, 128 B for memory per\n" +
				"connection or 0.5 s for the ramp, is \"same\": two identical runs back to back differ\n" +
				"that much. Not judged, only shown: percentiles with fewer than ten samples beyond them,\n" +
				"ramps under 3 s, the swarm's own lateness (lag), and B's latencies when B's swarm ran\n" +
				"late (lag p99 worse): the host was busier, and latencies count from the planned send\n" +
				"times. When the runs were made with different options (connections, rate, hold,\n" +
				"heartbeat, messages, engine, …) or on different hosts, a warning says so.\n" +
				"--json (or --format json) prints the comparison for scripts." +
				exitStatus("0 compared; with --fail-on-regression, nothing got worse beyond the threshold",
					"2 bad flags or arguments", "3 a record cannot be read or the report written",
					"5 --fail-on-regression: a figure got worse beyond the threshold (listed)"),
			Flags: append(reportFlags(),
				&cli.StringFlag{Name: "fail-on-regression", Usage: "exit 5 when a figure got worse by more than `PCT` (10% or 10)"},
				&cli.StringFlag{Name: "noise", Value: "5%", Usage: "changes within `PCT` are \"same\", never better or worse"},
				&cli.BoolFlag{Name: "json", Usage: "print the comparison as JSON (same as --format json)"}),
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
		if f := lookupFlag(c.Command, name); !hasValue && f != nil {
			if _, isBool := f.(*cli.BoolFlag); isBool {
				value, hasValue = "true", true
			}
		}
		if !hasValue {
			if i+1 == len(args) {
				return opts, usageError(fmt.Errorf("flag %s needs a value", a))
			}
			i++
			value = args[i]
		}
		if err := c.Set(canonicalFlag(c, name), value); err != nil {
			return opts, usageError(unknownFlag(c.Command, "--"+name))
		}
	}
	if len(opts.runs) != nRuns {
		return opts, usageError(fmt.Errorf("give %s (got %d argument(s)): see %s --help", usage, len(opts.runs), c.Command.HelpName))
	}
	opts.format, opts.out = c.String("format"), c.String("out")
	if c.Bool("json") {
		opts.format = reports.FormatJSON
	}
	switch opts.format {
	case reports.FormatText, reports.FormatMarkdown, reports.FormatHTML, reports.FormatJSON:
	default:
		return opts, usageError(fmt.Errorf("--format %q: use text, md, html or json", opts.format))
	}
	opts.noise = reports.DefaultNoise
	if c.IsSet("noise") {
		pct, err := percent(c.String("noise"))
		if err != nil {
			return opts, usageError(fmt.Errorf("--noise %q: give a percentage such as 5%%", c.String("noise")))
		}
		opts.noise = pct
	}
	opts.threshold = reports.DefaultThreshold
	if c.IsSet("fail-on-regression") {
		pct, err := percent(c.String("fail-on-regression"))
		if err != nil {
			return opts, usageError(fmt.Errorf("--fail-on-regression %q: give a percentage such as 10%%", c.String("fail-on-regression")))
		}
		opts.threshold, opts.failOnReg = pct, true
	}
	return opts, nil
}

// percent reads "10%" or "10" as 0.1.
func percent(s string) (float64, error) {
	pct, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || pct < 0 {
		return 0, errors.New("not a percentage")
	}
	return pct / 100, nil
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
		if recs[i], err = reports.Load(path); errors.Is(err, reports.ErrNotARun) {
			return usageError(err)
		} else if err != nil {
			return failed(err)
		}
	}
	w := stdout
	if opts.out != "" {
		if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
			return failed(fmt.Errorf("cannot write the report: %w", err))
		}
		f, err := os.Create(opts.out)
		if err != nil {
			return failed(fmt.Errorf("cannot write the report: %w", err))
		}
		defer func() {
			if cerr := f.Close(); cerr != nil && err == nil {
				err = failed(fmt.Errorf("cannot write the report: %w", cerr))
			}
		}()
		w = f
	}
	if len(recs) == 1 {
		if err := reports.Render(w, recs[0], opts.format, chartDir(opts)); err != nil {
			return failed(err)
		}
		return nil
	}
	cmp := reports.Compare(recs[0], recs[1])
	cmp.Threshold, cmp.Noise = opts.threshold, opts.noise
	if err := reports.RenderComparison(w, cmp, opts.format); err != nil {
		return failed(err)
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
