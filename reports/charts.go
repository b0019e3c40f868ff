package reports

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/imtool/imtool/internal/stats"
)

// Chart size, for SVG (scaled to the page in HTML) and PNG alike.
const (
	chartWidth  = 8 * vg.Inch
	chartHeight = 3.2 * vg.Inch
)

// chart is one figure of a run, drawn with gonum/plot.
type chart struct {
	name  string // file name without extension, and HTML id
	title string
	plot  *plot.Plot
}

// series is one line of a chart. Lines of the same colour share a legend
// entry: the first one's.
type series struct {
	name   string
	points plotter.XYs
	colour int
	dashed bool
}

// legendRowShare is the height of one legend row as a share of the data
// area: that much headroom above the data keeps the legend off the lines.
const legendRowShare = 0.085

// charts draws the run over time: connections, connect rate, latency
// percentiles per interval, memory per connection and errors. The titles
// carry the run's own figures. Charts without data are left out.
func charts(rec *stats.Record) []chart {
	s, smp := rec.Summary, rec.Series
	var out []chart
	addChart := func(name, title, ylabel string, lines []series) {
		p := plot.New()
		setFont(p)
		p.Title.Text = title
		p.X.Label.Text = "seconds since start"
		p.Y.Label.Text = ylabel
		p.X.Tick.Marker = commaTicks{}
		p.Y.Tick.Marker = commaTicks{}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.XOffs = vg.Points(8)
		p.Add(plotter.NewGrid())
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
			line.Color = plotutil.Color(l.colour)
			line.Width = vg.Points(1.5)
			if l.dashed {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(line)
			if !entries[l.colour] {
				p.Legend.Add(l.name, line)
				entries[l.colour] = true
			}
			for _, pt := range l.points {
				lo, hi = min(lo, pt.Y), max(hi, pt.Y)
			}
		}
		if len(entries) == 0 {
			return
		}
		headroom := 1 / (1 - legendRowShare*float64(len(entries)+1))
		if lo > 0 && hi/lo > 100 { // latencies of kinds far apart: a log axis shows them all
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			p.Y.Label.Text += " (log scale)"
			p.Y.Min, p.Y.Max = lo, lo*math.Pow(hi/lo, headroom)
		} else {
			p.Y.Min = min(lo, 0)
			p.Y.Max = p.Y.Min + max(hi-p.Y.Min, 1)*headroom
		}
		faultMarkers(p, rec.Faults)
		out = append(out, chart{name, title, p})
	}

	conns := []series{{name: "established"}, {name: "held", colour: 1}, {name: "dropped", colour: 2}}
	rate := []series{{name: "connects per second"}}
	for i, x := range smp {
		conns[0].points = append(conns[0].points, plotter.XY{X: x.T, Y: float64(x.Swarm.Established)})
		conns[1].points = append(conns[1].points, plotter.XY{X: x.T, Y: float64(x.Swarm.Held)})
		conns[2].points = append(conns[2].points, plotter.XY{X: x.T, Y: float64(x.Swarm.Dropped)})
		rate[0].points = append(rate[0].points, plotter.XY{X: x.T, Y: connectRate(smp, i)})
	}
	addChart("connections", fmt.Sprintf("Connections: %s requested, %s established, %s held at end",
		stats.Thousands(s.Requested), stats.Thousands(s.Established), stats.Thousands(s.Held)), "connections", conns)
	addChart("connect-rate", fmt.Sprintf("Connect rate: %s conn/s mean over the %s ramp, %s conn/s peak",
		fmtFloat(s.ConnectRateMean), fmtDuration(s.RampSeconds), fmtFloat(s.ConnectRatePeak)), "conn/s", rate)

	lat, latTitle := latencyLines(smp, s)
	addChart("latency", latTitle, "milliseconds", lat)

	mem, memTitle := memoryLines(smp, s)
	addChart("memory", memTitle, "bytes per connection", mem)

	errs, errTitle := errorLines(smp, s)
	addChart("errors", errTitle, "errors per second", errs)
	return out
}

// latencyLines gives per-interval p50 and p99 for every latency kind: the
// difference of consecutive cumulative histograms.
func latencyLines(smp []stats.Sample, s stats.Summary) ([]series, string) {
	var lines []series
	for i, kind := range latencyKinds(s.Latency) {
		p50, p99 := series{name: kind, colour: i}, series{name: kind, colour: i, dashed: true}
		var prev stats.Hist
		for _, x := range smp {
			h := x.Swarm.Latency[kind]
			d := h.Since(prev)
			prev = h
			if d.Count > 0 {
				p50.points = append(p50.points, plotter.XY{X: x.T, Y: d.Quantile(0.5).Seconds() * 1e3})
				p99.points = append(p99.points, plotter.XY{X: x.T, Y: d.Quantile(0.99).Seconds() * 1e3})
			}
		}
		lines = append(lines, p50, p99)
	}
	var parts []string
	for _, kind := range latencyKinds(s.Latency) {
		if len(parts) < 3 { // what fits in a title
			parts = append(parts, fmt.Sprintf("%s %s", kind, fmtSeconds(s.Latency[kind].P99)))
		}
	}
	return lines, "Latency, p50 solid, p99 dashed (run p99: " + strings.Join(parts, ", ") + ")"
}

// memoryLines gives memory growth since the first sample per connection
// (client, host) or session (server) gained since then, as Summarize does.
func memoryLines(smp []stats.Sample, s stats.Summary) ([]series, string) {
	client, server, host := series{name: "client (private memory)"}, series{name: "server (private memory)", colour: 1}, series{name: "host (MemAvailable drop)", colour: 2}
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

// commaTicks labels the default ticks with thousands separators.
type commaTicks struct{}

func (commaTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = fmtFloat(ticks[i].Value)
		}
	}
	return ticks
}

// svg renders a chart as an SVG element for inlining in HTML: without the
// XML declaration, scaled by the page through its viewBox.
func (c chart) svg() (string, error) {
	canvas := vgsvg.New(chartWidth, chartHeight)
	c.plot.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("cannot draw chart %s: %w", c.name, err)
	}
	out := buf.String()
	if i := strings.Index(out, "<svg"); i >= 0 {
		out = out[i:]
	}
	return out, nil
}
