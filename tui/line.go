package tui

import (
	"fmt"
	"io"
	"sync"

	"github.com/imtool/imtool/internal/stats"
)

// lineSink is the plain progress sink for when stdout is not a terminal: one
// line per sample, for logs and CI.
type lineSink struct {
	mu sync.Mutex
	w  io.Writer
}

var _ stats.Sink = (*lineSink)(nil)

// NewLine returns a sink that writes one progress line per Update to w, e.g.
//
//	12s ramp   established 48213/100000  conn/s 4012  errors 0  hb p99 1.2ms
//
// followed by the server's sessions when the sample has a server.
func NewLine(w io.Writer) stats.Sink { return &lineSink{w: w} }

// Update writes the sample's line. Write errors are ignored: the run goes on
// when its log cannot be written.
func (l *lineSink) Update(s stats.Sample) {
	text := formatLine(s)
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, text+"\n")
}

// Close does nothing: the writer belongs to the caller.
func (l *lineSink) Close() error { return nil }

// formatLine is the progress line for one sample, without a newline.
func formatLine(s stats.Sample) string {
	sw := s.Swarm
	phase := sw.Phase
	if sw.Down {
		phase = "down"
	}
	if phase == "" {
		phase = "-"
	}
	hb := "-"
	if h, ok := sw.Latency[stats.LatHeartbeat]; ok && h.Count > 0 {
		hb = dur(h.Quantile(0.99))
	}
	out := fmt.Sprintf("%4.0fs %-6s established %d/%d  conn/s %.0f  errors %d  hb p99 %s",
		s.T, phase, sw.Established, sw.Target, sw.ConnectRate, sumMap(sw.Errors), hb)
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
