package reports

import (
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/stats"
)

// TestRampExactAndItsCap: the summary's ramp is the swarm's exact span
// (first dial to last established), not rounded to samples, its mean is the
// connections established in it over that span, the peak is never below
// the mean, and the summary names what set the pace.
func TestRampExactAndItsCap(t *testing.T) {
	const sec = int64(1e9)
	for _, tc := range []struct {
		name            string
		rate            float64
		est             int64
		paced, window   int64
		attempts, errs  int64
		want            string
		wantSec, wantRt float64
	}{
		{"held to --rate", 20000, 10000, 90, 10, 10000, 0, "--rate (20,000/s)", 0.5, 20000},
		{"window full", 1e6, 10000, 10, 90, 10000, 0, "--max-inflight (4,096", 0.5, 20000},
		{"errors", 1e6, 9000, 90, 10, 10000, 1000, "errors (1,000 of 10,000 attempts)", 0.5, 18000},
		{"the gateway", 1e6, 10000, 90, 10, 10000, 0, "the gateway and the host", 0.5, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := stats.Snapshot{Phase: stats.PhaseHold, Established: tc.est, Held: tc.est, Attempts: tc.attempts,
				RampStartNS: 5 * sec, RampEndNS: 5*sec + sec/2, RampEstablished: tc.est,
				RampPacedTurns: tc.paced, RampWindowTurns: tc.window}
			if tc.errs > 0 {
				sw.Errors = map[string]int64{stats.ErrConnRefused: tc.errs}
			}
			rec := &stats.Record{Command: "swarm", Options: map[string]any{"conns": float64(10000), "rate": tc.rate, "max_inflight": float64(4096)},
				Series: []stats.Sample{{T: 1, Swarm: stats.Snapshot{Phase: stats.PhaseRamp}}, {T: 2, Swarm: sw}}}
			s := Summarize(rec)
			if s.RampSeconds != tc.wantSec || s.ConnectRateMean != tc.wantRt {
				t.Errorf("ramp %.3f s at %.0f conn/s; want %.3f s at %.0f", s.RampSeconds, s.ConnectRateMean, tc.wantSec, tc.wantRt)
			}
			if s.ConnectRatePeak < s.ConnectRateMean {
				t.Errorf("peak %.0f below the mean %.0f", s.ConnectRatePeak, s.ConnectRateMean)
			}
			if !strings.HasPrefix(s.RampCap, tc.want) {
				t.Errorf("paced by %q; want %q", s.RampCap, tc.want)
			}
		})
	}
}
