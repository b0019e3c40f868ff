package reports

import (
	"encoding/json"
	"io"

	"github.com/imtool/imtool/internal/stats"
)

// FormatJSON is the format of JSON and CompareJSON.
const FormatJSON = "json"

// JSON writes a run for scripts: its run.json without the per-second
// series (options, environment, summary, thresholds, teardown), indented.
// Keys are snake_case, as in run.json; docs/RUN-RECORD.md lists them.
// `swarm --json`, `bench --json` and `report --format json` all print this.
func JSON(w io.Writer, rec *stats.Record) error {
	r := *rec
	r.Series = nil
	if r.SchemaVersion == 0 {
		r.SchemaVersion = stats.RecordVersion
	}
	return writeJSON(w, r)
}

// comparisonJSON is a comparison for scripts.
type comparisonJSON struct {
	A           string       `json:"a"` // what each run was
	B           string       `json:"b"`
	NoiseMargin float64      `json:"noise_margin"` // relative change below which a figure is "same"
	Threshold   float64      `json:"threshold"`    // relative worsening flagged as a regression
	Warnings    []string     `json:"warnings"`     // how the runs' options differ
	Figures     []figureJSON `json:"figures"`
	Regressions []string     `json:"regressions"` // figures flagged
	Verdict     string       `json:"verdict"`
}

type figureJSON struct {
	Figure    string   `json:"figure"`
	Unit      string   `json:"unit"`
	A         float64  `json:"a"`
	B         float64  `json:"b"`
	Change    *float64 `json:"change"` // (B − A) / A; null when A is 0
	Better    string   `json:"better"` // "higher" or "lower"
	Verdict   string   `json:"verdict"`
	Regressed bool     `json:"regressed"`
}

// CompareJSON writes a comparison for scripts (`report compare --json`).
func CompareJSON(w io.Writer, c Comparison) error {
	v := newCompareView(c)
	out := comparisonJSON{A: v.Runs[0].Value, B: v.Runs[1].Value, NoiseMargin: c.Noise, Threshold: c.Threshold,
		Warnings: c.Warnings, Verdict: v.Verdict, Figures: []figureJSON{}, Regressions: []string{}}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	for _, d := range c.Deltas {
		f := figureJSON{Figure: d.Figure, Unit: d.unit.name(), A: d.A, B: d.B, Verdict: c.verdict(d), Better: "lower"}
		if d.Better == HigherIsBetter {
			f.Better = "higher"
		}
		if d.A != 0 {
			ch := (d.B - d.A) / d.A
			f.Change = &ch
		}
		f.Regressed = c.regressed(d)
		if f.Regressed {
			out.Regressions = append(out.Regressions, d.Figure)
		}
		out.Figures = append(out.Figures, f)
	}
	return writeJSON(w, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
