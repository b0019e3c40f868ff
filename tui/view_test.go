package tui

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"github.com/imtool/imtool/internal/stats"
)

// Goldens are plain text: the renderer has no colours, so a diff shows the
// layout. Rewrite them with: go test ./tui -run TestView -update

func plainRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return r
}

func testModel(opts Options, w, h int) model {
	opts.PortRange = [2]int{32768, 60999}
	m := newModel(opts, newFeed(), plainRenderer())
	next, _ := m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return next.(model)
}

func feedAll(m model, samples []stats.Sample) model {
	for _, s := range samples {
		next, _ := m.Update(sampleMsg(s))
		m = next.(model)
	}
	return m
}

// lats builds latency histograms whose quantiles are easy to read.
func lats(scale time.Duration) map[string]stats.Hist {
	mk := func(base time.Duration) stats.Hist {
		var ds []time.Duration
		for i := 1; i <= int(scale/time.Microsecond)*100; i++ {
			ds = append(ds, base*time.Duration(i%100+1)/100)
		}
		return stats.HistOf(ds...)
	}
	return map[string]stats.Hist{
		stats.LatConnect:   mk(30 * scale),
		stats.LatLogin:     mk(50 * scale),
		stats.LatHeartbeat: mk(12 * scale),
		stats.LatAck:       mk(15 * scale),
		stats.LatDeliver:   mk(20 * scale),
		stats.LatLag:       mk(2 * scale),
	}
}

func server(conns, rss int64, t float64, shards int, down bool) *stats.Snapshot {
	var parts []stats.Snapshot
	for i := range shards {
		c := conns / int64(shards)
		parts = append(parts, stats.Snapshot{
			Kind: stats.KindGateway, ID: fmt.Sprintf("gw-%d", i+1), UptimeS: t,
			Process:     stats.Process{RSSBytes: rss / int64(shards), FDs: c + 20, FDLimit: 50000, CPUSeconds: t * 0.3, Processes: 1},
			Connections: c, Sessions: c - 10, Dispatcher: "up",
			Ports: map[string]int64{"9000": c / 2, "9001": c - c/2},
		})
	}
	s := stats.Merge(stats.KindGateway, "", parts)
	s.Time = time.Time{}
	s.Down = down
	return &s
}

// ramp is a run twelve seconds into its ramp, with errors.
func ramp() []stats.Sample {
	var out []stats.Sample
	for i := 1; i <= 12; i++ {
		est := int64(i) * 4018
		if i == 12 {
			est = 48213
		}
		held := est - 113*int64(i)/12
		sw := stats.Snapshot{
			Kind: stats.KindSwarm, Phase: stats.PhaseRamp, Target: 100000, UptimeS: float64(i),
			Established: est, Held: held, Dropped: est - held,
			Drops:        map[string]int64{"server_close": (est - held) / 2, "reset": est - held - (est-held)/2},
			ConnectRate:  float64(3000 + (i*577)%1500),
			Ports:        map[string]int64{"9000": held / 2, "9001": held - held/2},
			SourceIPs:    map[string]int64{"127.0.0.1": held / 4, "127.0.0.2": held / 4, "127.0.0.3": held / 4, "127.0.0.4": held - 3*(held/4)},
			Errors:       map[string]int64{stats.ErrAddrNotAvail: 100 * int64(i), stats.ErrConnRefused: 10, stats.ErrConnectTimeout: 3},
			ErrorExample: map[string]string{stats.ErrAddrNotAvail: "connect 127.0.0.1:9000: cannot assign requested address"},
			Latency:      lats(time.Duration(i) * time.Microsecond),
		}
		if i == 12 {
			sw.Errors[stats.ErrAddrNotAvail] = 1204
		}
		disp := stats.Snapshot{Kind: stats.KindDispatcher, UptimeS: float64(i), Connections: 4, Gateways: 4, Sessions: held - 40,
			Process: stats.Process{CPUSeconds: float64(i) * 0.05}}
		out = append(out, stats.Sample{
			T: float64(i), Swarm: sw,
			Server:     server(held, 30<<20+held*5200, float64(i), 4, false),
			Dispatcher: &disp,
			Host:       &stats.Host{MemAvailable: 12<<30 - held*8400, TCPInUse: 2*held + 12, TCPTimeWait: 12, CPUPercent: 42},
		})
	}
	return out
}

// hold is the same run holding all its connections.
func hold() []stats.Sample {
	out := ramp()
	for i := range 3 {
		last := out[len(out)-1]
		s := last
		sw := last.Swarm.Clone()
		sw.Phase, sw.Established, sw.Held, sw.Dropped, sw.Drops = stats.PhaseHold, 100000, 100000, 0, nil
		sw.ConnectRate, sw.Errors, sw.ErrorExample = 0, nil, nil
		sw.Ports = map[string]int64{"9000": 50000, "9001": 50000}
		sw.SourceIPs = map[string]int64{"127.0.0.1": 25000, "127.0.0.2": 25000, "127.0.0.3": 25000, "127.0.0.4": 25000}
		// Per second: 2,000 SENDs, all ACKed, 1,990 DELIVERs, 10,000 PINGs.
		sw.Sent, sw.Acked, sw.Delivered = last.Swarm.Sent+2000, last.Swarm.Acked+2000, last.Swarm.Delivered+1990
		sw.Pings, sw.Pongs = last.Swarm.Pings+10000, last.Swarm.Pongs+10000
		s.T = last.T + 1
		sw.UptimeS = s.T
		// The hold's latencies are a fifth of the ramp's: the interval
		// columns show them, the run columns still the ramp's tail.
		sw.Latency = map[string]stats.Hist{}
		for name, h := range last.Swarm.Latency {
			h.Merge(lats(2 * time.Microsecond)[name])
			sw.Latency[name] = h
		}
		s.Swarm = sw
		s.Server = server(100000, 30<<20+100000*5200, s.T, 4, false)
		d := *last.Dispatcher
		d.UptimeS, d.Sessions, d.CPUSeconds = s.T, 99960, d.CPUSeconds+0.01*float64(i+1)
		s.Dispatcher = &d
		s.Host = &stats.Host{MemAvailable: 11 << 30, TCPInUse: 200012, TCPTimeWait: 3, CPUPercent: 11}
		out = append(out, s)
	}
	return out
}

// down is the ramp after the server and the dispatcher stopped answering,
// with one agent down too.
func down() []stats.Sample {
	out := ramp()
	last := out[len(out)-1]
	s := last
	s.T++
	srv := last.Server.Clone()
	srv.Down = true
	s.Server = &srv
	s.Dispatcher = &stats.Snapshot{Kind: stats.KindDispatcher, Down: true}
	sw := last.Swarm.Clone()
	sw.Shards = []stats.Snapshot{
		{Kind: stats.KindSwarm, ID: "agent-a", Held: sw.Held / 2},
		{Kind: stats.KindSwarm, ID: "agent-b", Held: sw.Held - sw.Held/2, Down: true},
	}
	sw.SourceIPs = nil
	s.Swarm = sw
	return append(out, s)
}

func serverOnly() []stats.Sample {
	var out []stats.Sample
	for i := 1; i <= 3; i++ {
		out = append(out, stats.Sample{
			T:          float64(i),
			Server:     server(int64(i)*20000, 30<<20+int64(i)*20000*5200, 100+float64(i), 4, false),
			Dispatcher: &stats.Snapshot{Kind: stats.KindDispatcher, Down: true},
			Host:       &stats.Host{MemAvailable: 11 << 30, TCPInUse: 40012, CPUPercent: 7},
		})
	}
	return out
}

// staleFDs is serverOnly on a kernel that counts fds now and then: the
// count is shown with its age.
func staleFDs() []stats.Sample {
	out := serverOnly()
	out[len(out)-1].Server.FDsAgeS = 23.4
	return out
}

var run = Options{Title: "imtool bench", Stop: func() {}, Pause: func(bool) {}}

// timed is a run with a 10 s hold: the header counts it down.
var timed = Options{Title: "imtool bench", Stop: func() {}, Pause: func(bool) {}, Hold: 10 * time.Second}

func TestView(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		samples []stats.Sample
		w, h    int
		help    bool
	}{
		{"ramp_80x24", run, ramp(), 80, 24, false},
		{"ramp_120x40", run, ramp(), 120, 40, false},
		{"ramp_60x20", run, ramp(), 60, 20, false},
		{"ramp_100x30", run, ramp(), 100, 30, false},
		{"hold_80x24", run, hold(), 80, 24, false},
		{"hold_120x40", run, hold(), 120, 40, false},
		{"hold_timed_80x24", timed, hold(), 80, 24, false},
		{"hold_timed_120x40", timed, hold(), 120, 40, false},
		{"hold_timed_60x20", timed, hold(), 60, 20, false},
		{"down_80x24", run, down(), 80, 24, false},
		{"down_120x40", run, down(), 120, 40, false},
		{"down_60x20", run, down(), 60, 20, false},
		{"help_80x24", run, ramp(), 80, 24, true},
		{"waiting_80x24", run, nil, 80, 24, false},
		{"dash_server_only_80x24", Options{Title: "imtool dash", Target: 100000}, serverOnly(), 80, 24, false},
		{"dash_stale_fds_80x24", Options{Title: "imtool dash", Target: 100000}, staleFDs(), 80, 24, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := feedAll(testModel(tc.opts, tc.w, tc.h), tc.samples)
			m.help = tc.help
			v := m.View()
			checkFits(t, v, tc.w, tc.h)
			golden.RequireEqual(t, []byte(v))
		})
	}
}

// checkFits fails when the view would break: a line wider than the
// terminal or more lines than it has.
func checkFits(t *testing.T, v string, w, h int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) > h {
		t.Errorf("%d lines on a %d-line terminal", len(lines), h)
	}
	for i, l := range lines {
		if width(l) > w {
			t.Errorf("line %d is %d wide on a %d-column terminal: %q", i+1, width(l), w, l)
		}
	}
}

// Every size from tiny to huge gets a whole view: no line too wide, no line
// too many, whatever the state.
func TestViewFitsEverySize(t *testing.T) {
	states := map[string][]stats.Sample{"ramp": ramp(), "hold": hold(), "down": down(), "server": serverOnly(), "none": nil}
	for name, samples := range states {
		base := feedAll(testModel(run, 80, 24), samples)
		for _, w := range []int{1, 2, 10, 39, 60, 79, 80, 81, 119, 120, 121, 200} {
			for _, h := range []int{1, 2, 5, 12, 20, 23, 24, 25, 39, 40, 41, 60} {
				for _, help := range []bool{false, true} {
					next, _ := base.Update(tea.WindowSizeMsg{Width: w, Height: h})
					m := next.(model)
					m.help = help
					lines := strings.Split(m.View(), "\n")
					if len(lines) > h {
						t.Errorf("%s %dx%d help=%v: %d lines", name, w, h, help, len(lines))
					}
					for i, l := range lines {
						if width(l) > w {
							t.Errorf("%s %dx%d help=%v: line %d is %d wide", name, w, h, help, i+1, width(l))
						}
					}
				}
			}
		}
	}
}

// Resizing changes the layout in place: the same model, a new size.
func TestResize(t *testing.T) {
	m := feedAll(testModel(run, 120, 40), ramp())
	large := m.View()
	next, _ := m.Update(tea.WindowSizeMsg{Width: 60, Height: 20})
	small := next.(model).View()
	if large == small || strings.Count(small, "\n") >= 20 {
		t.Fatalf("resize did not change the layout:\n%s", small)
	}
	if !strings.Contains(large, "|_|") || strings.Contains(small, "|_|") {
		t.Errorf("big digits belong on the large screen only")
	}
}

// The latency table's p99 is the last interval's: after a slow second
// (180 ms) and a fast one (26 ms) the heartbeat row says 26.2ms, and only
// the large screen's run column still says 180ms. The old table showed
// the run's p99 (180ms) as the main figure.
func TestLatencyTableShowsTheLastInterval(t *testing.T) {
	var rec stats.Recorder
	sample := func(t float64) stats.Sample {
		return stats.Sample{T: t, Swarm: stats.Snapshot{Kind: stats.KindSwarm, Phase: stats.PhaseHold, Target: 10, Established: 10, Held: 10,
			Latency: map[string]stats.Hist{stats.LatHeartbeat: rec.Snapshot()}}}
	}
	for range 100 {
		rec.Record(180 * time.Millisecond)
	}
	first := sample(1)
	for range 100 {
		rec.Record(26 * time.Millisecond)
	}
	m := feedAll(testModel(run, 120, 40), []stats.Sample{first, sample(2)})
	var row string
	for _, l := range strings.Split(m.View(), "\n") {
		if strings.HasPrefix(l, " heartbeat ") {
			row = l
		}
	}
	if f := strings.Fields(row); len(f) != 6 || f[1] != "26.2ms" || f[2] != "26.2ms" || f[4] != "180ms" {
		t.Fatalf("heartbeat row %q: want p50 and p99 of the last second 26.2ms, run p99 180ms", row)
	}
	if !strings.Contains(m.View(), "latency last 1s") {
		t.Fatal("the table does not name its interval")
	}
}

// An MQTT swarm's message line adds its lost and duplicated counts.
func TestMQTTMessageLine(t *testing.T) {
	m := testModel(Options{}, 120, 40)
	sw := func(sent int64, mq *stats.MQTT) stats.Snapshot {
		return stats.Snapshot{Kind: stats.KindSwarm, Phase: stats.PhaseHold, Held: 10, Sent: sent, Acked: sent, Delivered: sent, MQTT: mq}
	}
	m = feedAll(m, []stats.Sample{
		{T: 1, Swarm: sw(100, &stats.MQTT{})},
		{T: 2, Swarm: sw(300, &stats.MQTT{Lost: [3]int64{0, 3, 0}, Duplicated: [3]int64{0, 2, 0}})},
	})
	if l := m.msgLine(); !strings.Contains(l, "sent 200") || !strings.Contains(l, "mqtt lost 3  dup 2") {
		t.Errorf("message line %q: want sent 200/s and mqtt lost 3, dup 2", l)
	}
}
