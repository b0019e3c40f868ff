package reports

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/imtool/imtool/internal/stats"
)

// Text writes the end-of-run summary that swarm and bench print: what was
// asked and reached, how fast, latency percentiles, errors with their fixes
// and memory per connection, under a banner when the run is incomplete.
func Text(w io.Writer, rec *stats.Record) error {
	v := newView(rec)
	b := bufio.NewWriter(w)
	fmt.Fprintln(b, v.Title)
	if v.Incomplete != "" {
		fmt.Fprintf(b, "*** INCOMPLETE: %s; the figures cover what was recorded ***\n", v.Incomplete)
	}
	fmt.Fprintln(b)
	columns(b, "  ", rowCells(v.Summary), 0)
	if v.Shortfall != "" {
		fmt.Fprintf(b, "\nshortfall: %s\n", v.Shortfall)
	}
	if len(v.Thresholds) > 0 {
		fmt.Fprintln(b, "\nthresholds (hold phase)")
		columns(b, "  ", rowCells(v.Thresholds), 0)
	}
	if len(v.Latency.Rows) > 0 {
		fmt.Fprintln(b)
		columns(b, "  ", append([][]string{v.Latency.Header}, v.Latency.Rows...), 1)
	}
	if len(v.Faults) > 0 {
		fmt.Fprintln(b, "\nfaults")
		for _, l := range v.Faults {
			fmt.Fprintln(b, "  "+l)
		}
	}
	if len(v.Errors) > 0 {
		fmt.Fprintln(b, "\nerrors")
		for _, e := range v.Errors {
			fmt.Fprintf(b, "  %s × %s: %s\n", e.Class, e.Count, orDash(e.Fix))
			if e.Example != "" {
				fmt.Fprintf(b, "    e.g. %s\n", e.Example)
			}
		}
	}
	return b.Flush()
}

// columns writes rows as aligned columns after indent; columns from
// rightFrom on (when > 0) are right-aligned, as numbers are.
func columns(w io.Writer, indent string, rows [][]string, rightFrom int) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		line.WriteString(indent)
		for i, cell := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			switch {
			case rightFrom > 0 && i >= rightFrom:
				line.WriteString("  " + pad + cell)
			case i == len(r)-1:
				line.WriteString(cell)
			default:
				line.WriteString(cell + pad + "  ")
			}
		}
		fmt.Fprintln(w, line.String())
	}
}

// rowCells turns label/value rows into columns.
func rowCells(rows []row) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = []string{r.Label, r.Value}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
