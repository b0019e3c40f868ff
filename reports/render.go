package reports

import (
	"fmt"
	"io"

	"github.com/imtool/imtool/internal/stats"
)

// Report formats.
const (
	FormatText     = "text"
	FormatMarkdown = "md"
	FormatHTML     = "html"
)

// Render writes rec in a format; assetDir is where Markdown puts its charts.
func Render(w io.Writer, rec *stats.Record, format, assetDir string) error {
	switch format {
	case FormatText:
		return Text(w, rec)
	case FormatMarkdown:
		return Markdown(w, rec, assetDir)
	case FormatHTML:
		return HTML(w, rec)
	case FormatJSON:
		return JSON(w, rec)
	}
	return errFormat(format)
}

// RenderComparison writes c in a format.
func RenderComparison(w io.Writer, c Comparison, format string) error {
	switch format {
	case FormatText:
		return CompareText(w, c)
	case FormatMarkdown:
		return CompareMarkdown(w, c)
	case FormatHTML:
		return CompareHTML(w, c)
	case FormatJSON:
		return CompareJSON(w, c)
	}
	return errFormat(format)
}

func errFormat(format string) error {
	return fmt.Errorf("unknown report format %q: use %s, %s, %s or %s", format, FormatText, FormatMarkdown, FormatHTML, FormatJSON)
}
