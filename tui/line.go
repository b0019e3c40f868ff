package tui

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"

	"github.com/imtool/imtool/internal/stats"
)

// lineSink is the plain progress sink for when stdout is not a terminal: one
// line per sample, for logs and CI.
type lineSink struct {
	mu      sync.Mutex
	w       io.Writer
	prevT   float64
	prevLat map[string]stats.Hist
}

var _ stats.Sink = (*lineSink)(nil)

// NewLine returns a sink that writes one progress line per Update to w, e.g.
//
//	12s ramp   established 48213/100000  conn/s 4012  errors 0  hb p99 (last 1s) 1.2ms
//
// followed by the server's sessions when the sample has a server. The
// heartbeat p99 is that of the interval since the previous line.
func NewLine(w io.Writer) stats.Sink { return &lineSink{w: w} }

// Update writes the sample's line. Write errors are ignored: the run goes on
// when its log cannot be written.
func (l *lineSink) Update(s stats.Sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	iv := stats.LatencySince(s.Swarm.Latency, l.prevLat)
	text := formatLine(s, iv, s.T-l.prevT)
	if !s.Swarm.Down {
		l.prevT, l.prevLat = s.T, s.Swarm.Latency
	}
	_, _ = io.WriteString(l.w, text+"\n")
}

// Close does nothing: the writer belongs to the caller.
func (l *lineSink) Close() error { return nil }

// formatLine is the progress line for one sample, without a newline; iv
// are the latencies of the last dt seconds.
func formatLine(s stats.Sample, iv map[string]stats.Hist, dt float64) string {
	sw := s.Swarm
	phase := sw.Phase
	if sw.Down {
		phase = "down"
	}
	if phase == "" {
		phase = "-"
	}
	hb := "-"
	if h, ok := iv[stats.LatHeartbeat]; ok && h.Count > 0 && !sw.Down {
		hb = stats.Latency(h.Quantile(0.99))
	}
	out := fmt.Sprintf("%4.0fs %-6s held %d/%d  connects %d  conn/s %.0f  errors %d  hb p99 (%s) %s",
		s.T, phase, sw.Held, sw.Target, sw.Established, sw.ConnectRate, sumMap(sw.Errors), lastLabel(dt), hb)
	if srv := s.Server; srv != nil {
		if srv.Down {
			out += "  server DOWN"
		} else {
			out += fmt.Sprintf("  server sessions %d", srv.Sessions)
		}
	}
	if s.Fault != "" {
		out += "  FAULT " + s.Fault
	}
	return out
}

// lastLabel names an interval of dt seconds: "last 1s", "last 0.5s".
func lastLabel(dt float64) string {
	if dt <= 0 {
		return "last -"
	}
	return "last " + strconv.FormatFloat(math.Round(dt*10)/10, 'f', -1, 64) + "s"
}
