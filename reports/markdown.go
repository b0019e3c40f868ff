package reports

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/imtool/imtool/internal/stats"
)

// Markdown writes a report for a pull request, wiki page or capacity
// review: the summary, latency and error tables, the charts and the
// environment. The charts are written as PNG files into
// assetDir, which belongs beside the Markdown file: they are linked as
// "<base name of assetDir>/<chart>.png". An empty assetDir leaves the charts
// out, with a line saying how to get them, and writes nothing to disk.
func Markdown(w io.Writer, rec *stats.Record, assetDir string) error {
	var links []row
	if assetDir != "" {
		if err := os.MkdirAll(assetDir, 0o755); err != nil {
			return fmt.Errorf("cannot create the chart directory: %w", err)
		}
		for _, c := range charts(rec) {
			file := c.name + ".png"
			if err := savePNG(c, filepath.Join(assetDir, file)); err != nil {
				return fmt.Errorf("cannot write chart %s: %w", file, err)
			}
			links = append(links, row{c.title, path.Join(filepath.Base(assetDir), file)})
		}
	}

	v := newView(rec)
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "# %s\n\n", v.Title)
	if v.Incomplete != "" {
		fmt.Fprintf(b, "> **INCOMPLETE RUN:** %s; the figures cover what was recorded.\n\n", mdEscape(v.Incomplete))
	}
	fmt.Fprintf(b, "## Summary\n\n")
	mdRows(b, []string{"figure", "value"}, v.Summary)
	if v.Shortfall != "" {
		fmt.Fprintf(b, "\n**Shortfall:** %s\n", mdEscape(v.Shortfall))
	}
	if len(v.Thresholds) > 0 {
		fmt.Fprintf(b, "\n## Thresholds (hold phase)\n\n")
		mdTable(b, []string{"threshold", "measured"}, rowCells(v.Thresholds))
	}
	if len(v.Latency.Rows) > 0 {
		fmt.Fprintf(b, "\n## Latency\n\n")
		mdTable(b, v.Latency.Header, v.Latency.Rows)
	}
	if len(v.Faults) > 0 {
		fmt.Fprintf(b, "\n## Faults\n\n```\n%s\n```\n", strings.Join(v.Faults, "\n"))
	}
	fmt.Fprintf(b, "\n## Errors\n\n")
	if len(v.Errors) == 0 {
		fmt.Fprintln(b, "No errors.")
	} else {
		var rows [][]string
		for _, e := range v.Errors {
			rows = append(rows, []string{"`" + e.Class + "`", e.Count, orDash(e.Fix), orDash(e.Example)})
		}
		mdTable(b, []string{"class", "count", "fix", "example"}, rows)
	}
	fmt.Fprintf(b, "\n## Charts\n")
	if assetDir == "" {
		fmt.Fprintf(b, "\nNot drawn: the report went to stdout. `imtool report RUN --format md --out FILE.md` writes them beside FILE.md.\n")
	}
	for _, l := range links {
		fmt.Fprintf(b, "\n![%s](%s)\n", mdEscape(l.Label), l.Value)
	}
	fmt.Fprintf(b, "\n## Environment\n\n")
	mdRows(b, []string{"", ""}, v.Env)
	if len(v.Tune) > 0 {
		fmt.Fprintf(b, "\nTune check:\n\n```\n%s\n```\n", strings.Join(v.Tune, "\n"))
	}
	if len(v.Options) > 0 {
		fmt.Fprintf(b, "\n## Options\n\n")
		mdRows(b, []string{"option", "value"}, v.Options)
	}
	return b.Flush()
}

func savePNG(c chart, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.writeTo(f, "png"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mdRows(w io.Writer, header []string, rows []row) {
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{r.Label, r.Value}
	}
	mdTable(w, header, cells)
}

func mdTable(w io.Writer, header []string, rows [][]string) {
	line := func(cells []string) {
		esc := make([]string, len(cells))
		for i, c := range cells {
			esc[i] = mdEscape(c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(sep, "|"))
	for _, r := range rows {
		line(r)
	}
}

// mdEscape keeps text from breaking a table or turning into markup.
var mdEscape = strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace
