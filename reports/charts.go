package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/imtool/imtool/internal/stats"
)

// Chart size, for SVG (scaled to the page in HTML) and PNG alike.
const (
	chartWidth  = 8 * vg.Inch
	chartHeight = 3.2 * vg.Inch
)

// chart is one figure of a run, drawn with gonum/plot, its legend to the
// right of the plot where it covers no line.
type chart struct {
	name    string // file name without extension, and HTML id
	title   string
	plot    *plot.Plot
	legend  plot.Legend
	legendW vg.Length // the room kept for the legend
	leftPad vg.Length // room left of the y axis, so data areas line up
}

// series is one line of a chart. Lines of the same colour share a legend
// entry: the first one's.
type series struct {
	name   string
	points plotter.XYs
	colour int
	dashed bool
}

// palette is Okabe and Ito's set of colours, told apart also by people
// with colour-blindness; a chart never has more lines of its own colour
// than this.
var palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xB2, 0xff}, // blue
	color.RGBA{0xE6, 0x9F, 0x00, 0xff}, // orange
	color.RGBA{0x00, 0x9E, 0x73, 0xff}, // bluish green
	color.RGBA{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	color.RGBA{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
	color.RGBA{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	color.RGBA{0x00, 0x00, 0x00, 0xff}, // black
}

var faint = color.Gray{Y: 0x70}

// axis says how a chart's axis is scaled and labelled.
type axis struct {
	label  string
	format func(float64) string // tick labels
	log    bool                 // a log axis when the data spans more than 20×
}

var (
	countAxis   = func(label string) axis { return axis{label: label, format: fmtFloat} }
	latencyAxis = axis{label: "latency", format: stats.Seconds, log: true}
	bytesAxis   = axis{label: "bytes per connection", format: fmtBytes}
)

// timeline is what every chart over time shares: the same x range and
// ticks, and the phase markers.
type timeline struct {
	end    float64      // the last sample's time
	phases []phaseBound // where ramp, hold and close begin
}

// charts draws the run: connections, connect rate, messages per second,
// latency p99 and p50 per interval, the hold's latency distribution,
// memory per connection and errors. Charts over time share their x axis
// and mark the phases; the titles carry the run's own figures. Charts
// without data are left out.
func charts(rec *stats.Record) []chart {
	s, smp := rec.Summary, rec.Series
	var out []chart
	tl := timeline{phases: append(phaseBounds(smp), faultBounds(rec.Faults)...)}
	if len(smp) > 0 {
		tl.end = smp[len(smp)-1].T
	}
	overTime := func(name, title string, y axis, lines []series) {
		if c, ok := newChart(name, title, y, lines, &tl); ok {
			out = append(out, c)
		}
	}

	conns, rate := connectionLines(smp)
	overTime("connections", fmt.Sprintf("Connections: %s requested, %s connects, %s held at end",
		stats.Thousands(s.Requested), stats.Thousands(s.Established), stats.Thousands(s.Held)), countAxis("connections"), conns)
	overTime("connect-rate", fmt.Sprintf("Connect rate: %s conn/s mean over the %s ramp, %s conn/s peak",
		fmtFloat(s.ConnectRateMean), fmtDuration(s.RampSeconds), fmtFloat(s.ConnectRatePeak)), countAxis("connects per second"), rate)
	if s.Sent > 0 || s.Delivered > 0 {
		overTime("messages", fmt.Sprintf("Messages per second: %s sent, %s acked, %s delivered in all",
			stats.Thousands(s.Sent), stats.Thousands(s.Acked), stats.Thousands(s.Delivered)), countAxis("messages per second"), messageLines(smp))
	}

	kinds := latencyKinds(s.Latency)
	for _, q := range []struct {
		name, label string
		q           float64
	}{{"latency-p99", "p99", 0.99}, {"latency-p50", "p50", 0.5}} {
		var parts []string
		for _, kind := range kinds[:min(len(kinds), 3)] { // what fits in a title
			l := s.Latency[kind]
			v := l.P99
			if q.q == 0.5 {
				v = l.P50
			}
			parts = append(parts, kind+" "+fmtSeconds(v))
		}
		overTime(q.name, fmt.Sprintf("Latency %s per second (whole run: %s)", q.label, strings.Join(parts, ", ")),
			latencyAxis, latencyLines(smp, kinds, q.q))
	}
	if c, ok := distributionChart(smp, kinds); ok {
		out = append(out, c)
	}

	mem, memTitle := memoryLines(smp, s)
	overTime("memory", memTitle, bytesAxis, mem)

	errs, errTitle := errorLines(smp, s)
	overTime("errors", errTitle, countAxis("errors per second"), errs)

	alignDataAreas(out)
	return out
}

// connectionLines are the connections chart's lines (connects, held,
// dropped) and the connect-rate chart's, from the samples, with a short
// ramp (shortRamp) drawn at its exact instants and rate.
func connectionLines(smp []stats.Sample) (conns, rate []series) {
	conns = []series{{name: "connects"}, {name: "held", colour: 1}, {name: "dropped", colour: 3}}
	rate = []series{{name: "connects/s"}}
	ramp, exact := shortRamp(smp)
	for i, x := range smp {
		prevT, prevEst, prevHeld := 0.0, int64(0), int64(0)
		if i > 0 {
			prevT, prevEst, prevHeld = smp[i-1].T, smp[i-1].Swarm.Established, smp[i-1].Swarm.Held
		}
		r := connectRate(smp, i)
		if exact && prevT <= ramp.start && x.T >= ramp.held {
			// The interval that holds the ramp: the ramp at its instants,
			// then what the interval saw outside it.
			conns[0].points = append(conns[0].points, plotter.XY{X: ramp.start, Y: float64(prevEst)},
				plotter.XY{X: ramp.end, Y: float64(prevEst + ramp.established)})
			if x.Swarm.Held-prevHeld >= ramp.established { // every one of them held by the sample
				conns[1].points = append(conns[1].points, plotter.XY{X: ramp.start, Y: float64(prevHeld)},
					plotter.XY{X: ramp.held, Y: float64(prevHeld + ramp.established)})
			}
			rate[0].points = append(rate[0].points, plotter.XY{X: ramp.start, Y: 0}, plotter.XY{X: ramp.start, Y: ramp.rate},
				plotter.XY{X: ramp.end, Y: ramp.rate}, plotter.XY{X: ramp.end, Y: 0})
			r = max(float64(x.Swarm.Established-prevEst-ramp.established)/(x.T-prevT), 0)
		}
		conns[0].points = append(conns[0].points, plotter.XY{X: x.T, Y: float64(x.Swarm.Established)})
		conns[1].points = append(conns[1].points, plotter.XY{X: x.T, Y: float64(x.Swarm.Held)})
		conns[2].points = append(conns[2].points, plotter.XY{X: x.T, Y: float64(x.Swarm.Dropped)})
		rate[0].points = append(rate[0].points, plotter.XY{X: x.T, Y: r})
	}
	return conns, rate
}

// rampSpan is the ramp as the swarm timed it, on the run's time axis.
type rampSpan struct {
	start, end  float64 // seconds since the run started
	held        float64 // when the last of its connections was held
	established int64
	rate        float64 // established per second, by the swarm's own timing (the summary's mean)
}

// shortRamp is the ramp from the swarm's exact timing (its first dial and
// the last connection established during it), placed on the samples' time
// axis by the last sample's own clock, when it lies within one sample
// interval: the samples alone would draw it as a slope over the whole
// interval, at a rate averaged over that interval.
func shortRamp(smp []stats.Sample) (rampSpan, bool) {
	if len(smp) < 2 {
		return rampSpan{}, false
	}
	last := smp[len(smp)-1]
	sw := last.Swarm
	if sw.RampSeconds() == 0 || sw.Time.IsZero() || sw.RampEstablished == 0 {
		return rampSpan{}, false
	}
	offset := last.T - float64(sw.Time.UnixNano())/1e9
	r := rampSpan{start: offset + float64(sw.RampStartNS)/1e9, end: offset + float64(sw.RampEndNS)/1e9,
		established: sw.RampEstablished, rate: float64(sw.RampEstablished) / sw.RampSeconds()}
	r.held = max(offset+float64(sw.RampHeldNS)/1e9, r.end)
	// The two clocks agree to a few milliseconds: a ramp that began with
	// the run is drawn from its first sample.
	r.start = max(r.start, smp[0].T)
	if r.end <= r.start {
		return rampSpan{}, false
	}
	for _, x := range smp {
		if x.T > r.start && x.T < r.held {
			return rampSpan{}, false // a sample inside: the samples draw it
		}
	}
	return r, true
}

// alignDataAreas gives every chart of a run the same legend width and
// pads the narrower y axes, so that the data areas, and the seconds on
// the x axes, line up on the page.
func alignDataAreas(cs []chart) {
	var lw vg.Length
	for _, c := range cs {
		lw = max(lw, c.legend.Rectangle(draw.Canvas{}).Size().X)
	}
	page := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: chartWidth, Y: chartHeight}}}
	left := make([]vg.Length, len(cs))
	var most vg.Length
	for i := range cs {
		cs[i].legendW = lw
		left[i] = cs[i].dataArea(page).Min.X
		most = max(most, left[i])
	}
	for i := range cs {
		cs[i].leftPad = most - left[i]
	}
}

// newChart builds a chart of lines against y; tl, when given, fixes the x
// axis to the run's time and draws the phase markers. It reports false
// when no line has data.
func newChart(name, title string, y axis, lines []series, tl *timeline) (chart, bool) {
	p := plot.New()
	setFont(p)
	p.Title.Text = title
	p.Y.Label.Text = y.label
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.TextStyle.Font = font.From(chartTypeface, legend.TextStyle.Font.Size)
	legend.Top, legend.Left = true, true
	entries := map[int]bool{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		if len(l.points) == 0 {
			continue
		}
		line, err := plotter.NewLine(l.points)
		if err != nil {
			continue // NaN or infinite values: nothing sensible to draw
		}
		line.Color = palette[l.colour%len(palette)]
		line.Width = vg.Points(1.5)
		if l.dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		if !entries[l.colour] {
			legend.Add(l.name, line)
			entries[l.colour] = true
		}
		for _, pt := range l.points {
			lo, hi = min(lo, pt.Y), max(hi, pt.Y)
		}
	}
	if len(entries) == 0 {
		return chart{}, false
	}
	setY(p, y, lo, hi)
	if tl != nil {
		p.X.Label.Text = "seconds since start"
		p.X.Min, p.X.Max = 0, max(tl.end, 1)
		p.X.Tick.Marker = timeTicks{}
		if len(tl.phases) > 0 {
			p.Add(phaseMarks(tl.phases))
		}
	}
	return chart{name: name, title: title, plot: p, legend: legend}, true
}

// setY scales the y axis to the data with a little headroom: a log axis
// (when asked for and the data spans more than 20×) from just below the
// smallest value to just above the largest, else linear from zero.
func setY(p *plot.Plot, y axis, lo, hi float64) {
	if y.log && lo > 0 && hi/lo > 20 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Min, p.Y.Max = lo/1.25, hi*1.25
		p.Y.Tick.Marker = logTicks{y.format}
		// gonum/plot centres the axis label on the linear middle of the
		// range, near the top of a log axis, and pads the plot for it: the
		// title says "log scale" instead, the ticks carry the unit.
		p.Y.Label.Text = ""
		p.Title.Text += ", log scale"
		return
	}
	p.Y.Min = min(lo, 0)
	p.Y.Max = p.Y.Min + max(hi-p.Y.Min, 1e-9)*1.08
	if hi <= 0 {
		p.Y.Max = 1
	}
	p.Y.Tick.Marker = linearTicks{y.format}
}

// messageLines are SENDs sent, ACKs and DELIVERs received per second.
func messageLines(smp []stats.Sample) []series {
	out := []series{{name: "sent"}, {name: "acked", colour: 1}, {name: "delivered", colour: 2, dashed: true}}
	for i := 1; i < len(smp); i++ {
		a, b := smp[i-1], smp[i]
		dt := b.T - a.T
		if dt <= 0 {
			continue
		}
		for j, n := range [][2]int64{{a.Swarm.Sent, b.Swarm.Sent}, {a.Swarm.Acked, b.Swarm.Acked}, {a.Swarm.Delivered, b.Swarm.Delivered}} {
			out[j].points = append(out[j].points, plotter.XY{X: b.T, Y: max(float64(n[1]-n[0]), 0) / dt})
		}
	}
	return out
}

// latencyLines gives the quantile q of every latency kind per interval:
// the difference of consecutive cumulative histograms. Each kind keeps its
// colour in every latency chart.
func latencyLines(smp []stats.Sample, kinds []string, q float64) []series {
	var lines []series
	for i, kind := range kinds {
		l := series{name: kind, colour: i}
		var prev stats.Hist
		for _, x := range smp {
			h := x.Swarm.Latency[kind]
			if d := h.Since(prev); d.Count > 0 {
				l.points = append(l.points, plotter.XY{X: x.T, Y: d.Quantile(q).Seconds()})
			}
			prev = h
		}
		lines = append(lines, l)
	}
	return lines
}

// maxNines is how far the distribution chart reaches: 99.999%; it has
// ninesSteps points per nine.
const (
	maxNines   = 5
	ninesSteps = 50
)

// distributionChart is the latency at every percentile, as vegeta's
// hdrplot draws it: x is the number of nines (90% is 1, 99.9% is 3), so
// the tail gets as much room as the median.
func distributionChart(smp []stats.Sample, kinds []string) (chart, bool) {
	lines, scope := distributionLines(smp, kinds)
	title := "Latency by percentile, " + scope
	var parts []string
	for _, l := range lines {
		for _, q := range []struct {
			nines int
			label string
		}{{3, "p99.9"}, {2, "p99"}} {
			if i := q.nines * ninesSteps; len(parts) < 3 && len(l.points) > i {
				parts = append(parts, fmt.Sprintf("%s %s %s", l.name, q.label, fmtSeconds(l.points[i].Y)))
				break
			}
		}
	}
	if len(parts) > 0 {
		title += " (" + strings.Join(parts, ", ") + ")"
	}
	c, ok := newChart("latency-distribution", title, latencyAxis, lines, nil)
	if ok {
		c.plot.X.Label.Text = "percentile"
		c.plot.X.Min, c.plot.X.Max = 0, maxNines
		c.plot.X.Tick.Marker = ninesTicks{}
	}
	return c, ok
}

// distributionLines are each kind's latency at ninesSteps points per nine,
// over the hold when the run has one, else over the whole run (the scope
// says which). A kind reaches as far as its samples tell: 1,000 samples
// reach 99.9%.
func distributionLines(smp []stats.Sample, kinds []string) ([]series, string) {
	if len(smp) == 0 {
		return nil, ""
	}
	hists := smp[len(smp)-1].Swarm.Latency
	scope := "whole run"
	if hold := holdSamples(smp); len(hold) > 1 {
		hists = stats.LatencySince(hold[len(hold)-1].Swarm.Latency, hold[0].Swarm.Latency)
		scope = "hold"
	}
	var lines []series
	for i, kind := range kinds {
		h := hists[kind]
		if h.Count == 0 {
			continue
		}
		l := series{name: kind, colour: i}
		top := min(math.Log10(float64(h.Count)), maxNines)
		for j := 0; float64(j)/ninesSteps <= top; j++ {
			k := float64(j) / ninesSteps
			l.points = append(l.points, plotter.XY{X: k, Y: h.Quantile(1 - math.Pow(10, -k)).Seconds()})
		}
		lines = append(lines, l)
	}
	return lines, scope
}

// memoryLines gives memory growth since the first sample per connection
// (client, host) or session (server) gained since then, as Summarize does.
func memoryLines(smp []stats.Sample, s stats.Summary) ([]series, string) {
	client, server, host := series{name: "client (private)"}, series{name: "server (private)", colour: 1}, series{name: "host (MemAvailable)", colour: 2}
	if len(smp) > 0 {
		first, srv := smp[0], firstServer(smp)
		for _, x := range smp {
			gained := x.Swarm.Held - first.Swarm.Held
			if gained > 0 {
				client.points = append(client.points, plotter.XY{X: x.T, Y: perConn(x.Swarm.UserBytes()-first.Swarm.UserBytes(), gained)})
				if x.Host != nil && first.Host != nil && x.Host.MemAvailable > 0 {
					host.points = append(host.points, plotter.XY{X: x.T, Y: perConn(first.Host.MemAvailable-x.Host.MemAvailable, gained)})
				}
			}
			if x.Server != nil && x.Server.Sessions > srv.Sessions {
				server.points = append(server.points, plotter.XY{X: x.T, Y: perConn(x.Server.UserBytes()-srv.UserBytes(), x.Server.Sessions-srv.Sessions)})
			}
		}
	}
	title := fmt.Sprintf("Memory per connection: client %s", fmtBytes(s.ClientBytesPer))
	if s.ServerRSSBytes > 0 {
		title += fmt.Sprintf(", server %s", fmtBytes(s.ServerBytesPer))
	}
	if s.HostBytesPer > 0 {
		title += fmt.Sprintf(", host %s", fmtBytes(s.HostBytesPer))
	}
	return []series{client, server, host}, title
}

// errorLines gives errors per second by class, from cumulative counts.
func errorLines(smp []stats.Sample, s stats.Summary) ([]series, string) {
	classes := byCount(s.Errors)
	if len(classes) == 0 {
		classes = []string{"all classes"} // a flat line says "none" plainly
	}
	lines := make([]series, len(classes))
	var total int64
	for i, class := range classes {
		lines[i].name, lines[i].colour = class, i
		prevT, prevN := 0.0, int64(0)
		for _, x := range smp {
			n := x.Swarm.Errors[class]
			if dt := x.T - prevT; dt > 0 {
				lines[i].points = append(lines[i].points, plotter.XY{X: x.T, Y: float64(n-prevN) / dt})
			}
			prevT, prevN = x.T, n
		}
		total += s.Errors[class]
	}
	if total == 0 {
		return lines, "Errors per second: none"
	}
	return lines, fmt.Sprintf("Errors per second: %s in total%s", stats.Thousands(total), causes(s.Errors))
}

// phaseBound is where a phase begins on the time axis.
type phaseBound struct {
	t     float64
	phase string
}

// phaseBounds finds where the hold and the close begin: the first sample
// in each phase (the run's last sample stands for the end of the hold).
func phaseBounds(smp []stats.Sample) []phaseBound {
	var out []phaseBound
	seen := map[string]bool{}
	for i, x := range smp {
		ph := x.Swarm.Phase
		if i == len(smp)-1 && seen[stats.PhaseHold] && !seen[stats.PhaseClose] {
			ph = stats.PhaseClose
		}
		if (ph == stats.PhaseHold || ph == stats.PhaseClose) && !seen[ph] {
			seen[ph] = true
			out = append(out, phaseBound{x.T, ph})
		}
	}
	return out
}

// phaseMarks draws a dashed vertical line where each phase begins, and
// names the phases at the top of the data area: ramp before the first
// line, then the phase each line begins.
type phaseMarks []phaseBound

func (pm phaseMarks) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	line := draw.LineStyle{Color: faint, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	label := text.Style{Color: faint, Font: font.From(chartTypeface, 8), XAlign: draw.XLeft, YAlign: draw.YTop, Handler: p.Title.TextStyle.Handler}
	pad := vg.Points(3)
	c.FillText(label, vg.Point{X: trX(p.X.Min) + pad, Y: c.Max.Y - pad}, "ramp")
	for _, b := range pm {
		x := trX(b.t)
		if x < c.Min.X || x > c.Max.X {
			continue
		}
		c.StrokeLine2(line, x, c.Min.Y, x, c.Max.Y)
		if b.phase != stats.PhaseClose || x+pad+label.Width(b.phase) <= c.Max.X {
			c.FillText(label, vg.Point{X: x + pad, Y: c.Max.Y - pad}, b.phase)
		}
	}
}

// chartTypeface is the face of all chart text: a sans serif, like the
// HTML page around the charts.
var chartTypeface = font.Font{Typeface: "Liberation", Variant: "Sans"}

// setFont sets the chart typeface on every text of p, keeping the sizes.
func setFont(p *plot.Plot) {
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.Legend.TextStyle,
		&p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label} {
		st.Font = font.From(chartTypeface, st.Font.Size)
	}
}

// linearTicks are the default ticks labelled by one formatter, so every
// label of an axis reads the same way (1,000 and 10,000; 1ms and 10ms).
type linearTicks struct{ format func(float64) string }

func (t linearTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = t.format(ticks[i].Value)
		}
	}
	return ticks
}

// logTicks put labels at 1, 2 and 5 times each power of ten within the
// range (only at powers of ten when the range spans more than four), with
// unlabelled marks at the other multiples.
type logTicks struct{ format func(float64) string }

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	wide := math.Log10(hi/lo) > 4
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := base * float64(m)
			if v < lo || v > hi {
				continue
			}
			tick := plot.Tick{Value: v}
			if m == 1 || (!wide && (m == 2 || m == 5)) {
				tick.Label = t.format(v)
			}
			ticks = append(ticks, tick)
		}
	}
	return ticks
}

// timeTicks label whole seconds at a round step that gives four to eight
// labels over the run, the same for every chart of a run.
type timeTicks struct{}

func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200} {
		step = s
		if (hi-lo)/s <= 8 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmtFloat(v)})
		for m := 1; m < 5 && step >= 5; m++ {
			if minor := v + step*float64(m)/5; minor <= hi {
				ticks = append(ticks, plot.Tick{Value: minor})
			}
		}
	}
	return ticks
}

// ninesTicks label the distribution chart's percentiles.
type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := []plot.Tick{{Value: 0, Label: "0%"}, {Value: math.Log10(2), Label: "50%"}}
	for k, label := range []string{"90%", "99%", "99.9%", "99.99%", "99.999%"} {
		if v := float64(k + 1); v <= hi {
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	return ticks
}

// draw draws the chart on dc: the title across the whole width, the
// legend at the right, level with the top of the data area, and the plot
// in the rest.
func (c chart) draw(dc draw.Canvas) {
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	if t := c.plot.Title; t.Text != "" {
		descent := t.TextStyle.FontExtents().Descent
		dc.FillText(t.TextStyle, vg.Point{X: dc.Center().X, Y: dc.Max.Y + descent}, t.Text)
	}
	p, plotC, legendC := c.layout(dc)
	p.Draw(plotC)
	c.legend.Draw(legendC)
}

// layout splits dc into the plot's part, below the title and left of the
// legend, and the legend's. The title spans the whole width: the plot's
// own would be centred on the plot alone and cut when long. p is the plot
// to draw there, without its title.
func (c chart) layout(dc draw.Canvas) (p *plot.Plot, plotC, legendC draw.Canvas) {
	cp := *c.plot
	p = &cp
	if t := p.Title; t.Text != "" {
		dc.Max.Y -= t.TextStyle.Rectangle(t.Text).Size().Y + t.Padding
		p.Title.Text = ""
	}
	lw := max(c.legend.Rectangle(dc).Size().X, c.legendW)
	gap := vg.Points(10)
	plotC = draw.Crop(dc, c.leftPad, -(lw + gap), 0, 0)
	legendC = dc
	legendC.Min.X = plotC.Max.X + gap/2
	legendC.Max.Y = p.DataCanvas(plotC).Max.Y
	return p, plotC, legendC
}

// dataArea is where the chart's data lands on dc.
func (c chart) dataArea(dc draw.Canvas) vg.Rectangle {
	p, plotC, _ := c.layout(dc)
	return p.DataCanvas(plotC).Rectangle
}

// writeTo renders the chart as "svg" or "png".
func (c chart) writeTo(w io.Writer, format string) error {
	canvas, err := draw.NewFormattedCanvas(chartWidth, chartHeight, format)
	if err != nil {
		return err
	}
	c.draw(draw.New(canvas))
	if _, err := canvas.WriteTo(w); err != nil {
		return fmt.Errorf("cannot draw chart %s: %w", c.name, err)
	}
	return nil
}

// svg renders a chart as an SVG element for inlining in HTML: without the
// XML declaration, scaled by the page through its viewBox.
func (c chart) svg() (string, error) {
	var buf bytes.Buffer
	if err := c.writeTo(&buf, "svg"); err != nil {
		return "", err
	}
	out := buf.String()
	if i := strings.Index(out, "<svg"); i >= 0 {
		out = out[i:]
	}
	return out, nil
}
