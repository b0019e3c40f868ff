package reports

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
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

// Two identical benches run back to back on one host flag nothing, either
// way round: testdata/same-a and same-b (`imtool bench --conns 5000 --hold
// 15s`, recorded before the swarm timed its ramp: ramps a sample apart, lag
// p99 59% apart) and same2-a and same2-b (the same, recorded with exact
// ramps of 0.46 s and 0.29 s, while another job loaded the host during
// same2-b: its swarm ran 4× later and every latency was 4-6× worse).
func TestCompareIdenticalRunsFlagNothing(t *testing.T) {
	for _, pair := range [][2]string{{"testdata/same-a", "testdata/same-b"}, {"testdata/same2-a", "testdata/same2-b"}} {
		a, b := load(t, pair[0]), load(t, pair[1])
		for _, c := range []Comparison{Compare(a, b), Compare(b, a)} {
			if reg := c.Regressions(); len(reg) > 0 {
				t.Errorf("%s vs %s: identical runs flagged: %+v", c.A.Started, c.B.Started, reg)
			}
			for _, w := range c.Warnings {
				if !strings.Contains(w, "B's swarm ran late") {
					t.Errorf("identical runs warned: %q", w)
				}
			}
			for _, d := range c.Deltas {
				if strings.HasPrefix(d.Figure, "heartbeat") && !strings.HasSuffix(d.Figure, "(hold)") {
					t.Errorf("%s: latencies are compared over the hold", d.Figure)
				}
			}
		}
	}
	// same2-b after same2-a: the late swarm is named, and why latencies
	// are not judged.
	c := Compare(load(t, "testdata/same2-a"), load(t, "testdata/same2-b"))
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "B's swarm ran late (lag p99 18.6ms → 78.6ms)") {
		t.Errorf("warnings %q, want B's late swarm named", c.Warnings)
	}

	// same-b then same-a (whose swarm was the less late) with B's heartbeat
	// hold p99 doubled: a real regression is still found.
	a, b := load(t, "testdata/same-b"), load(t, "testdata/same-a")
	slow := *b
	slow.Summary.HoldLatency = maps.Clone(b.Summary.HoldLatency)
	hb := slow.Summary.HoldLatency["heartbeat"]
	hb.P99 *= 2
	slow.Summary.HoldLatency["heartbeat"] = hb
	reg := Compare(a, &slow).Regressions()
	if len(reg) != 1 || reg[0].Figure != "heartbeat p99 (hold)" {
		t.Errorf("a doubled heartbeat p99 flags %+v, want heartbeat p99 (hold) alone", reg)
	}
	// … unless B's own swarm was late by as much.
	lag := slow.Summary.HoldLatency["lag"]
	lag.P99 *= 3
	slow.Summary.HoldLatency["lag"] = lag
	if c := Compare(a, &slow); len(c.Regressions()) != 0 || len(c.Warnings) != 1 {
		t.Errorf("with B's swarm late: regressions %+v, warnings %q", c.Regressions(), c.Warnings)
	}
}

// Runs made with different options are compared with a warning naming them.
func TestCompareWarnsWhenOptionsDiffer(t *testing.T) {
	f := fixtures(t)
	c := Compare(load(t, "testdata/same-a"), load(t, f["complete"]))
	if len(c.Warnings) == 0 || !strings.Contains(c.Warnings[0], "conns (5000 vs 20000)") {
		t.Errorf("warnings %q, want one naming conns (5000 vs 20000)", c.Warnings)
	}
	var txt bytes.Buffer
	if err := CompareText(&txt, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "warning: the runs differ in") {
		t.Errorf("the text comparison does not show the warning:\n%s", txt.String())
	}
}

// The JSON comparison holds every figure, with snake_case keys and the
// regressions listed by name.
func TestCompareJSON(t *testing.T) {
	f := fixtures(t)
	var out bytes.Buffer
	if err := CompareJSON(&out, Compare(load(t, f["complete"]), load(t, f["faster"]))); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Figures     []map[string]any `json:"figures"`
		Regressions []string         `json:"regressions"`
		Warnings    []string         `json:"warnings"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Figures) < 10 || len(got.Warnings) == 0 || !slices.Contains(got.Regressions, "connections held") {
		t.Errorf("comparison JSON: %d figures, regressions %q, warnings %q", len(got.Figures), got.Regressions, got.Warnings)
	}
	assertSnakeCase(t, "compare --json", out.Bytes())
}
