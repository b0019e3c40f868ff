package reports

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/imtool/imtool/internal/stats"
)

// DefaultThreshold is how much worse a figure must get before a comparison
// flags it: 10%.
const DefaultThreshold = 0.10

// DefaultNoise is the relative change a comparison calls "same": two
// identical runs back to back differ by this much in rates and memory.
const DefaultNoise = 0.05

// minRampSeconds is the shortest ramp whose time and rates are judged:
// shorter, start-up and scheduling decide them (5,000 connections ramped
// in 0.29 s and in 0.46 s in two identical benches back to back).
const minRampSeconds = 3

// noiseFloor is, per unit, the absolute difference that is never judged:
// latency percentiles of two identical runs differ by a few milliseconds on
// a loaded host, memory per connection by tens of bytes.
var noiseFloor = map[unit]float64{
	unitLatency: 0.005, // 5 ms
	unitBytes:   128,
	unitRate:    0,
	unitSeconds: 0,
	unitCount:   0,
}

// Better says which way a figure improves.
type Better int

// Directions of improvement.
const (
	HigherIsBetter Better = iota + 1 // rates, connections held
	LowerIsBetter                    // latency, memory, errors, drops
)

type unit int

const (
	unitCount unit = iota
	unitRate
	unitSeconds // a span of the run
	unitLatency
	unitBytes
)

// Delta is one figure of two runs.
type Delta struct {
	Figure string
	A, B   float64
	Better Better
	// Measured figures (rates, memory, latency) are 0 only when a run did
	// not measure them; such a pair is shown but not judged.
	Measured bool
	unit     unit
	// Samples are, for a latency percentile, the samples behind it in A and
	// B, and NeedSamples how many each needs for the percentile to be
	// judged: ten beyond it (1,000 for p99, 10,000 for p99.9).
	Samples     [2]int64
	NeedSamples int64
	// Margin, when larger than the comparison's noise margin, is this
	// figure's own: a ramp measured from the samples of a record that has
	// no exact ramp is known only to within one sample interval, so its time
	// and mean rate only to within 1/ramp seconds.
	Margin float64
	// Shown is a figure set beside the others but never judged: the
	// swarm's own lateness (lag) measures the load generator, not the
	// system under test.
	Shown bool
	// ShortRamp marks the ramp's figures of runs whose ramps were too short
	// to judge (minRampSeconds).
	ShortRamp bool
	// Excused is a latency not judged because B's swarm itself ran late
	// (its lag got worse): latencies count from the planned send times,
	// so a busier host shows in them whatever the server did.
	Excused bool
}

// TooFewSamples says a latency percentile rests on too few samples in a
// run to tell a change from chance.
func (d Delta) TooFewSamples() bool {
	return d.NeedSamples > 0 && (d.Samples[0] < d.NeedSamples || d.Samples[1] < d.NeedSamples)
}

// Diff is B − A.
func (d Delta) Diff() float64 { return d.B - d.A }

// Ratio is B / A; NaN when A is 0.
func (d Delta) Ratio() float64 {
	if d.A == 0 {
		return math.NaN()
	}
	return d.B / d.A
}

// Comparable says whether both runs have the figure.
func (d Delta) Comparable() bool { return !d.Measured || (d.A != 0 && d.B != 0) }

// Noise says whether the difference is too small to judge: within the
// relative margin, or under the unit's absolute floor.
func (d Delta) Noise(margin float64) bool {
	margin = max(margin, d.Margin)
	diff := math.Abs(d.B - d.A)
	if diff == 0 || diff <= noiseFloor[d.unit] {
		return true
	}
	return d.A != 0 && diff/math.Abs(d.A) <= margin
}

// Worse is how much worse B is than A, relative to A (0.25: 25% worse);
// 0 when B is as good or better or the pair cannot be compared, +Inf when
// a count that was 0 in A is not in B.
func (d Delta) Worse() float64 {
	if !d.Comparable() {
		return 0
	}
	change := d.B - d.A
	if d.Better == HigherIsBetter {
		change = -change
	}
	switch {
	case change <= 0:
		return 0
	case d.A == 0:
		return math.Inf(1)
	}
	return change / math.Abs(d.A)
}

// Comparison sets two runs side by side.
type Comparison struct {
	A, B   *stats.Record
	Deltas []Delta
	// Threshold is the relative worsening beyond which a figure is
	// flagged as a regression (0.1 = 10%).
	Threshold float64
	// Noise is the relative change called "same" (see Delta.Noise).
	Noise float64
	// Warnings name the options in which the runs differ: their figures
	// may differ for that reason alone.
	Warnings []string
}

// Compare lines up the figures of runs a (the baseline) and b: connect
// rate, ramp time, memory per connection, latency percentiles per kind
// during the hold (every connection up; the whole run's when a run has no
// hold figures), errors and drops. Figures neither run has are left out.
func Compare(a, b *stats.Record) Comparison {
	c := Comparison{A: a, B: b, Threshold: DefaultThreshold, Noise: DefaultNoise, Warnings: optionWarnings(a, b)}
	sa, sb := a.Summary, b.Summary
	// add appends a figure, unless neither run measured it; the figure
	// returned (nil then) takes the rest of its settings.
	add := func(figure string, u unit, better Better, measured bool, va, vb float64) *Delta {
		if va == 0 && vb == 0 && measured {
			return nil
		}
		c.Deltas = append(c.Deltas, Delta{Figure: figure, A: va, B: vb, Better: better, Measured: measured, unit: u})
		return &c.Deltas[len(c.Deltas)-1]
	}
	add("connections held", unitCount, HigherIsBetter, false, float64(sa.Held), float64(sb.Held))
	rampMargin := 0.0
	if r := min(sa.RampSeconds, sb.RampSeconds); r > 0 && (!exactRamp(a) || !exactRamp(b)) {
		rampMargin = 1 / r
	}
	short := min(sa.RampSeconds, sb.RampSeconds) < minRampSeconds
	if d := add("connect rate mean", unitRate, HigherIsBetter, true, sa.ConnectRateMean, sb.ConnectRateMean); d != nil {
		d.Margin, d.ShortRamp = rampMargin, short
	}
	if d := add("connect rate peak", unitRate, HigherIsBetter, true, sa.ConnectRatePeak, sb.ConnectRatePeak); d != nil {
		d.ShortRamp = short
	}
	if d := add("ramp time", unitSeconds, LowerIsBetter, true, sa.RampSeconds, sb.RampSeconds); d != nil {
		d.Margin, d.ShortRamp = rampMargin, short
	}
	add("client bytes per connection", unitBytes, LowerIsBetter, true, sa.ClientBytesPer, sb.ClientBytesPer)
	add("server bytes per session", unitBytes, LowerIsBetter, true, sa.ServerBytesPer, sb.ServerBytesPer)
	add("host bytes per connection", unitBytes, LowerIsBetter, true, sa.HostBytesPer, sb.HostBytesPer)
	latA, latB, phase := sa.HoldLatency, sb.HoldLatency, " (hold)"
	if len(latA) == 0 || len(latB) == 0 {
		latA, latB, phase = sa.Latency, sb.Latency, " (whole run)"
		c.Warnings = append(c.Warnings, "a run has no hold-phase latency: latencies are compared over the whole run, ramp included")
	}
	both := map[string]bool{}
	for k := range latA {
		both[k] = true
	}
	for k := range latB {
		both[k] = true
	}
	for _, kind := range latencyKinds(both) {
		la, lb := latA[kind], latB[kind]
		for _, p := range []struct {
			name   string
			a, b   float64
			beyond float64 // share of samples above the percentile
		}{{" p50", la.P50, lb.P50, 0.5}, {" p99", la.P99, lb.P99, 0.01}, {" p99.9", la.P999, lb.P999, 0.001}} {
			if d := add(kind+p.name+phase, unitLatency, LowerIsBetter, true, p.a, p.b); d != nil {
				d.Samples, d.NeedSamples = [2]int64{la.Count, lb.Count}, int64(math.Ceil(10/p.beyond))
				d.Shown = kind == stats.LatLag
			}
		}
	}
	c.excuseLateSwarm()
	add("errors", unitCount, LowerIsBetter, false, float64(sum(sa.Errors)), float64(sum(sb.Errors)))
	add("drops", unitCount, LowerIsBetter, false, float64(sa.Dropped), float64(sb.Dropped))
	return c
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// Regressions are the figures that got worse by more than the threshold,
// beyond the noise.
func (c Comparison) Regressions() []Delta {
	var out []Delta
	for _, d := range c.Deltas {
		if c.regressed(d) {
			out = append(out, d)
		}
	}
	return out
}

func (c Comparison) regressed(d Delta) bool {
	return !d.Shown && !d.Excused && !d.ShortRamp && d.Worse() > c.Threshold && !d.Noise(c.Noise) && !d.TooFewSamples()
}

// excuseLateSwarm leaves B's latencies unjudged when B's swarm fell behind
// its own schedule more than A's did (lag p99 worse beyond the threshold):
// the host was busier during B — on a shared machine, other work — and
// every latency, counted from the planned send times, carries that.
func (c *Comparison) excuseLateSwarm() {
	var lag *Delta
	for i := range c.Deltas {
		if strings.HasPrefix(c.Deltas[i].Figure, stats.LatLag+" p99 ") {
			lag = &c.Deltas[i]
		}
	}
	if lag == nil || lag.TooFewSamples() || lag.Noise(c.Noise) || lag.Worse() <= c.Threshold {
		return
	}
	for i := range c.Deltas {
		if d := &c.Deltas[i]; d.unit == unitLatency && !d.Shown {
			d.Excused = true
		}
	}
	c.Warnings = append(c.Warnings, fmt.Sprintf("B's swarm ran late (lag p99 %s → %s): the host was busier during B, and latencies, counted from the planned send times, carry that; they are shown, not judged. Rerun B on a quiet host",
		fmtSeconds(lag.A), fmtSeconds(lag.B)))
}

// exactRamp says the record timed its ramp itself (first dial to last
// established) rather than leaving it to be read from the samples.
func exactRamp(rec *stats.Record) bool {
	n := len(rec.Series)
	return n > 0 && rec.Series[n-1].Swarm.RampSeconds() > 0
}

// comparedOptions are the options that change a run's figures; runs that
// differ in one are compared with a warning.
var comparedOptions = []string{"conns", "rate", "hold", "heartbeat", "msg_rate", "payload", "proto", "engine", "procs", "close", "reconnect", "targets", "source_ips"}

// optionWarnings names how a and b were run differently.
func optionWarnings(a, b *stats.Record) []string {
	var diffs []string
	if a.Command != b.Command {
		diffs = append(diffs, fmt.Sprintf("command (%s vs %s)", orDash(a.Command), orDash(b.Command)))
	}
	for _, k := range comparedOptions {
		va, vb := optionValue(a.Options[k]), optionValue(b.Options[k])
		if a.Options[k] == nil && b.Options[k] == nil || va == vb {
			continue
		}
		diffs = append(diffs, fmt.Sprintf("%s (%s vs %s)", k, va, vb))
	}
	if ea, eb := a.Environment, b.Environment; ea.Hostname != eb.Hostname || ea.CPUs != eb.CPUs {
		diffs = append(diffs, fmt.Sprintf("host (%s, %d CPUs vs %s, %d CPUs)", orDash(ea.Hostname), ea.CPUs, orDash(eb.Hostname), eb.CPUs))
	}
	if len(diffs) == 0 {
		return nil
	}
	return []string{"the runs differ in " + strings.Join(diffs, ", ") + ": figures may differ for that reason alone"}
}

// compareView is a comparison laid out as the table every format shows.
type compareView struct {
	Title     string
	Warnings  []string
	Runs      []row // "A", "B" → what each run was
	Table     table
	Verdict   string
	Regressed bool
}

func newCompareView(c Comparison) compareView {
	v := compareView{
		Title:    "imtool report compare",
		Runs:     []row{{"A (baseline)", runLine(c.A)}, {"B", runLine(c.B)}},
		Table:    table{Header: []string{"figure", "A", "B", "B − A", "B / A", "verdict"}},
		Warnings: c.Warnings,
	}
	for _, d := range c.Deltas {
		ratio := "–"
		if r := d.Ratio(); !math.IsNaN(r) {
			ratio = "×" + fmtFloat(math.Round(r*100)/100)
		}
		diff := d.unit.format(d.Diff())
		if d.Diff() > 0 {
			diff = "+" + diff
		}
		v.Table.Rows = append(v.Table.Rows, []string{d.Figure, d.unit.format(d.A), d.unit.format(d.B), diff, ratio, c.verdict(d)})
	}
	n := len(c.Regressions())
	v.Regressed = n > 0
	switch n {
	case 0:
		v.Verdict = fmt.Sprintf("no figure got worse by more than %s", pct(c.Threshold))
	case 1:
		v.Verdict = fmt.Sprintf("1 figure got worse by more than %s", pct(c.Threshold))
	default:
		v.Verdict = fmt.Sprintf("%d figures got worse by more than %s", n, pct(c.Threshold))
	}
	v.Verdict += fmt.Sprintf(" (changes within %s, or under %s for latencies, are noise)", pct(c.Noise), fmtSeconds(noiseFloor[unitLatency]))
	return v
}

func runLine(rec *stats.Record) string {
	line := title(rec)
	if msg := incomplete(rec); msg != "" {
		line += " (INCOMPLETE: " + msg + ")"
	}
	return line
}

// regressionMark starts the verdict of a flagged figure.
const regressionMark = "REGRESSION"

func (c Comparison) verdict(d Delta) string {
	switch w := d.Worse(); {
	case !d.Comparable():
		return "not measured in both"
	case d.A == d.B:
		return "same"
	case d.Shown:
		return "not judged: the swarm's own lateness"
	case d.Excused && d.Worse() > 0:
		return pct(d.Worse()) + " worse; not judged: B's swarm ran late"
	case d.ShortRamp:
		return fmt.Sprintf("not judged: a ramp under %d s", minRampSeconds)
	case d.Noise(c.Noise):
		return "same (within noise)"
	case d.TooFewSamples():
		return fmt.Sprintf("too few samples to judge (%s and %s; %s needed)",
			stats.Thousands(d.Samples[0]), stats.Thousands(d.Samples[1]), stats.Thousands(d.NeedSamples))
	case math.IsInf(w, 1):
		return regressionMark + " (was 0)"
	case w > c.Threshold:
		return regressionMark + " (" + pct(w) + " worse)"
	case w > 0:
		return pct(w) + " worse"
	}
	return "better"
}

func pct(x float64) string { return fmtFloat(math.Round(x*1000)/10) + "%" }

func (u unit) format(x float64) string {
	switch u {
	case unitRate:
		return fmtFloat(x) + " conn/s"
	case unitSeconds:
		return fmtFloat(x) + " s"
	case unitLatency:
		return fmtSeconds(x)
	case unitBytes:
		return fmtBytes(x)
	}
	return stats.Thousands(int64(x))
}

// name is the unit of a figure's numbers in JSON.
func (u unit) name() string {
	switch u {
	case unitRate:
		return "conn/s"
	case unitSeconds, unitLatency:
		return "s"
	case unitBytes:
		return "bytes"
	}
	return "count"
}

// CompareText writes a comparison as aligned columns.
func CompareText(w io.Writer, c Comparison) error {
	v := newCompareView(c)
	b := bufio.NewWriter(w)
	fmt.Fprintln(b, v.Title)
	for _, r := range v.Runs {
		fmt.Fprintf(b, "  %s: %s\n", r.Label, r.Value)
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(b, "  warning: %s\n", w)
	}
	fmt.Fprintln(b)
	columns(b, "  ", append([][]string{v.Table.Header}, v.Table.Rows...), 0)
	fmt.Fprintf(b, "\n%s\n", v.Verdict)
	return b.Flush()
}

// CompareMarkdown writes a comparison as a Markdown table.
func CompareMarkdown(w io.Writer, c Comparison) error {
	v := newCompareView(c)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "# %s\n\n", v.Title)
	for _, r := range v.Runs {
		fmt.Fprintf(b, "- **%s:** %s\n", r.Label, mdEscape(r.Value))
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(b, "- **Warning:** %s\n", mdEscape(w))
	}
	fmt.Fprintln(b)
	mdTable(b, v.Table.Header, v.Table.Rows)
	fmt.Fprintf(b, "\n**Verdict:** %s\n", v.Verdict)
	return b.Flush()
}
