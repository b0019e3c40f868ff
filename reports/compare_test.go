package reports

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestGoldenCompare(t *testing.T) {
	f := fixtures(t)
	c := Compare(load(t, f["complete"]), load(t, f["faster"]))
	var txt, md, page bytes.Buffer
	if err := CompareText(&txt, c); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.txt", txt.Bytes())
	if err := CompareMarkdown(&md, c); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.md", md.Bytes())
	if err := CompareHTML(&page, c); err != nil {
		t.Fatal(err)
	}
	if bad := externalRefs(page.String()); len(bad) > 0 {
		t.Errorf("the comparison page refers to things outside the file: %q", bad)
	}
	if !strings.Contains(page.String(), `class="bad"`) {
		t.Errorf("the comparison page does not mark regressions")
	}
}

// Worse knows which way each figure improves, and the threshold decides
// what is flagged.
func TestCompareFlagsRegressionsByDirection(t *testing.T) {
	for _, tc := range []struct {
		d     Delta
		worse float64
	}{
		{Delta{A: 1000, B: 800, Better: HigherIsBetter, Measured: true}, 0.2}, // slower connects
		{Delta{A: 1000, B: 1200, Better: HigherIsBetter, Measured: true}, 0},
		{Delta{A: 0.010, B: 0.012, Better: LowerIsBetter, Measured: true}, 0.2}, // slower p99
		{Delta{A: 4000, B: 3000, Better: LowerIsBetter, Measured: true}, 0},     // fewer bytes
		{Delta{A: 0, B: 5, Better: LowerIsBetter}, math.Inf(1)},                 // errors appeared
		{Delta{A: 0, B: 4000, Better: LowerIsBetter, Measured: true}, 0},        // A did not measure it
	} {
		if got := tc.d.Worse(); math.Abs(got-tc.worse) > 1e-9 && got != tc.worse {
			t.Errorf("%+v: Worse %v, want %v", tc.d, got, tc.worse)
		}
	}
	c := Comparison{Deltas: []Delta{{Figure: "p99", A: 0.010, B: 0.012, Better: LowerIsBetter, Measured: true}}}
	for _, tc := range []struct {
		threshold float64
		flagged   int
	}{{0.10, 1}, {0.25, 0}} {
		c.Threshold = tc.threshold
		if got := len(c.Regressions()); got != tc.flagged {
			t.Errorf("threshold %v: %d regressions, want %d", tc.threshold, got, tc.flagged)
		}
	}
}
