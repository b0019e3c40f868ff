package reports

import (
	"math"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/imtool/imtool/internal/stats"
)

func tickLabels(ticks []plot.Tick) []string {
	var out []string
	for _, t := range ticks {
		if t.Label != "" {
			out = append(out, t.Label)
		}
	}
	return out
}

// The charts of a run are readable: the y axis ends a little above the
// data (the latency axis used to run to 1e+06 ms for a 1.41 s maximum),
// tick labels are written one way (never 1e+06), the legend sits beside
// the data area, charts over time share their x ticks and mark the hold,
// and there are charts of messages per second and of the latency
// distribution.
func TestChartsReadable(t *testing.T) {
	rec := load(t, fixtures(t)["complete"])
	s := rec.Summary
	cs := charts(rec)
	var names []string
	for _, c := range cs {
		names = append(names, c.name)
	}
	want := []string{"connections", "connect-rate", "messages", "latency-p99", "latency-p50", "latency-distribution", "memory", "errors"}
	if !slices.Equal(names, want) {
		t.Fatalf("charts %v, want %v", names, want)
	}
	var slowest float64
	for _, l := range s.Latency {
		slowest = max(slowest, l.Max)
	}
	var timeTicks []string
	for _, c := range cs {
		p := c.plot
		if p.Y.Max <= p.Y.Min || math.IsInf(p.Y.Max, 0) {
			t.Errorf("%s: y axis %v..%v", c.name, p.Y.Min, p.Y.Max)
		}
		if strings.HasPrefix(c.name, "latency") && p.Y.Max > 1.25*slowest*1.0001 {
			t.Errorf("%s: y axis runs to %s for a slowest sample of %s", c.name, fmtSeconds(p.Y.Max), fmtSeconds(slowest))
		}
		for _, l := range append(tickLabels(p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max)), tickLabels(p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max))...) {
			if strings.ContainsAny(l, "eE") && !strings.HasSuffix(l, "s") {
				t.Errorf("%s: tick label %q", c.name, l)
			}
		}
		if len(tickLabels(p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max))) < 2 {
			t.Errorf("%s: fewer than two labelled y ticks", c.name)
		}
		if c.name != "latency-distribution" {
			x := strings.Join(tickLabels(p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max)), " ")
			if timeTicks == nil {
				timeTicks = []string{x}
			} else if x != timeTicks[0] {
				t.Errorf("%s: x ticks %q, the first chart's %q", c.name, x, timeTicks[0])
			}
		}

		// The legend is drawn beside the data area, never on it, and every
		// chart over time has its data area in the same place on the page.
		dc := draw.New(vgsvg.New(chartWidth, chartHeight))
		_, plotC, legendC := c.layout(dc)
		data := c.dataArea(dc)
		// (Legend.Draw with Left set starts at the canvas's left edge.)
		if w := c.legend.Rectangle(legendC).Size().X; legendC.Min.X < data.Max.X || legendC.Min.X+w > dc.Max.X || plotC.Max.X > legendC.Min.X {
			t.Errorf("%s: legend from x %v to %v; data area ends at %v, chart at %v", c.name, legendC.Min.X, legendC.Min.X+w, data.Max.X, dc.Max.X)
		}
		if first := cs[0].dataArea(dc); c.name != "latency-distribution" && (data.Min.X != first.Min.X || data.Max.X != first.Max.X) {
			t.Errorf("%s: data area x %v..%v, the first chart's %v..%v", c.name, data.Min.X, data.Max.X, first.Min.X, first.Max.X)
		}
		svg, err := c.svg()
		if err != nil {
			t.Fatal(err)
		}
		if c.name != "latency-distribution" && (!strings.Contains(svg, ">ramp<") || !strings.Contains(svg, ">hold<")) {
			t.Errorf("%s: no ramp/hold phase markers", c.name)
		}
	}

	// The hold marker stands where the record's first hold sample is.
	first := -1.0
	for _, x := range rec.Series {
		if x.Swarm.Phase == stats.PhaseHold {
			first = x.T
			break
		}
	}
	if b := phaseBounds(rec.Series); len(b) == 0 || b[0] != (phaseBound{first, stats.PhaseHold}) {
		t.Errorf("phase bounds %v, first hold sample at %v", b, first)
	}
}

// The message chart's rates add up to the run's counts: sent per second
// times each interval is every SEND of the series.
func TestMessageChartAddsUp(t *testing.T) {
	rec := load(t, fixtures(t)["complete"])
	lines := messageLines(rec.Series)
	for i, total := range []int64{rec.Summary.Sent, rec.Summary.Acked, rec.Summary.Delivered} {
		var sum float64
		prevT := rec.Series[0].T
		for _, pt := range lines[i].points {
			sum += pt.Y * (pt.X - prevT)
			prevT = pt.X
		}
		if math.Abs(sum-float64(total)) > 0.5 {
			t.Errorf("%s: the chart adds up to %.1f, the run counted %d", lines[i].name, sum, total)
		}
	}
}

// The distribution chart agrees with the summary's hold percentiles, which
// Summarize computes on its own: at two nines (99%) and at three (99.9%).
func TestDistributionMatchesHoldPercentiles(t *testing.T) {
	rec := load(t, fixtures(t)["complete"])
	summary := Summarize(rec) // the stored record predates hold figures
	lines, scope := distributionLines(rec.Series, latencyKinds(summary.Latency))
	if scope != "hold" || len(lines) == 0 {
		t.Fatalf("scope %q, %d lines", scope, len(lines))
	}
	checked := 0
	for _, l := range lines {
		hold := summary.HoldLatency[l.name]
		for nines, want := range map[int]float64{2: hold.P99, 3: hold.P999} {
			i := nines * ninesSteps
			if hold.Count < int64(math.Pow10(nines)) {
				continue
			}
			if len(l.points) <= i || l.points[i].X != float64(nines) || l.points[i].Y != want {
				t.Errorf("%s: chart at %d nines %v, summary's hold figure %s", l.name, nines, l.points[min(i, len(l.points)-1)], fmtSeconds(want))
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no kind had enough hold samples to check")
	}
}

// Lines of one chart never share a colour.
func TestPaletteDistinct(t *testing.T) {
	seen := map[any]bool{}
	for _, c := range palette {
		if seen[c] {
			t.Fatalf("colour %v twice", c)
		}
		seen[c] = true
	}
	if len(latencyOrder) > len(palette) {
		t.Fatalf("%d latency kinds, %d colours", len(latencyOrder), len(palette))
	}
}

// A log axis over 10 µs to 1.41 s ends at 1.41 s × 1.25, labelled in
// latency units.
func TestLogAxis(t *testing.T) {
	p := plot.New()
	setY(p, latencyAxis, 10e-6, 1.41)
	if _, ok := p.Y.Scale.(plot.LogScale); !ok || p.Y.Max > 1.41*1.25+1e-9 || p.Y.Min < 8e-6 {
		t.Fatalf("log axis %v..%v scale %T", p.Y.Min, p.Y.Max, p.Y.Scale)
	}
	got := strings.Join(tickLabels(p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max)), " ")
	if got != "10µs 100µs 1ms 10ms 100ms 1s" {
		t.Fatalf("log ticks %q", got)
	}
}
