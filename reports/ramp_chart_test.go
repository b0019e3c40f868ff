package reports

import (
	"path/filepath"
	"testing"
)

// A ramp shorter than a sample interval is drawn where and as fast as it
// was: the connections chart rises over the swarm's own ramp span, and
// the connect-rate chart peaks at the rate its title gives, not at the
// ramp's connections spread over a whole second. A real bench run of
// 2,000 connections at 20,000/s (a 0.1 s ramp) is the case.
func TestShortRampCharts(t *testing.T) {
	bin := imtool(t)
	dir := filepath.Join(t.TempDir(), "run")
	bench(t, bin, dir, "--conns", "2000", "--rate", "20000", "--hold", "3s")
	rec := load(t, dir)
	s := rec.Summary
	if s.RampSeconds <= 0 || s.RampSeconds > 0.5 {
		t.Skipf("the ramp took %.2f s: not a short ramp on this machine", s.RampSeconds)
	}
	var rate, conns, connsX []float64
	connLines, rateLines := connectionLines(rec.Series)
	for _, p := range rateLines[0].points {
		rate = append(rate, p.Y)
	}
	for _, p := range connLines[0].points {
		conns, connsX = append(conns, p.Y), append(connsX, p.X)
	}
	// Held too: it reaches the requested count before the next sample.
	heldAt := -1.0
	for _, p := range connLines[1].points {
		if p.Y >= float64(s.Requested) {
			heldAt = p.X
			break
		}
	}
	if next := rec.Series[1].T; heldAt < 0 || heldAt >= next {
		t.Errorf("the held line reaches %d at %.2f s, at the sample (%.2f s) rather than when the ramp's connections were held", s.Requested, heldAt, next)
	}
	peak := 0.0
	for _, r := range rate {
		peak = max(peak, r)
	}
	if peak < 0.95*s.ConnectRatePeak || peak > 1.05*s.ConnectRatePeak {
		t.Errorf("the connect-rate chart peaks at %.0f/s, its title at %.0f/s", peak, s.ConnectRatePeak)
	}
	// The established line reaches the ramp's connections within the
	// ramp's own span, not at the next sample a second later.
	first := -1.0
	for i, v := range conns {
		if v >= float64(s.Requested) {
			first = connsX[i]
			break
		}
	}
	start := connsX[0]
	for i, v := range conns {
		if v == 0 {
			start = connsX[i]
		}
	}
	if first < 0 || first-start > s.RampSeconds+0.05 {
		t.Errorf("the established line reaches %d at %.2f s, %.2f s after it leaves 0; the ramp took %.2f s", s.Requested, first, first-start, s.RampSeconds)
	}
}
