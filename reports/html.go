package reports

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"

	"golang.org/x/image/font/sfnt"
	"gonum.org/v1/plot/font"

	"github.com/imtool/imtool/internal/stats"
)

// HTML writes a report as one self-contained page: the summary, latency,
// error and environment tables and the charts, inlined as SVG. It loads
// nothing — no scripts, fonts, style sheets or images from elsewhere — so
// it opens offline and can be attached anywhere.
func HTML(w io.Writer, rec *stats.Record) error {
	type figure struct {
		ID, Title string
		SVG       template.HTML
	}
	var figs []figure
	for _, c := range charts(rec) {
		svg, err := c.svg()
		if err != nil {
			return err
		}
		// The SVG comes from gonum/plot, which escapes its text.
		figs = append(figs, figure{"chart-" + c.name, c.title, template.HTML(svg)})
	}
	var font template.CSS
	if len(figs) > 0 {
		var err error
		if font, err = chartFont(); err != nil {
			return err
		}
	}
	return render(w, "run", struct {
		view
		Charts []figure
		Font   template.CSS
	}{newView(rec), figs, font})
}

// chartFont is an @font-face rule holding the font gonum/plot measures
// chart text with, as a data: URI. The inline SVGs name that font; with
// another one their labels would not fit where the plot placed them.
var chartFont = sync.OnceValues(func() (template.CSS, error) {
	face := font.DefaultCache.Lookup(chartTypeface, 12)
	var name sfnt.Buffer
	family, err := face.Face.Name(&name, sfnt.NameIDFamily)
	if err != nil {
		return "", fmt.Errorf("cannot read the chart font's name: %w", err)
	}
	var raw bytes.Buffer
	if _, err := face.Face.WriteSourceTo(nil, &raw); err != nil {
		return "", fmt.Errorf("cannot embed the chart font: %w", err)
	}
	return template.CSS(fmt.Sprintf("@font-face { font-family: %q; src: url(data:font/ttf;base64,%s) format(\"truetype\"); }",
		family, base64.StdEncoding.EncodeToString(raw.Bytes()))), nil
})

// CompareHTML writes a comparison as one self-contained page.
func CompareHTML(w io.Writer, c Comparison) error {
	return render(w, "compare", struct {
		compareView
		Font template.CSS // no charts, no font
	}{compareView: newCompareView(c)})
}

func render(w io.Writer, name string, data any) error {
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		return fmt.Errorf("cannot write the HTML report: %w", err)
	}
	return nil
}

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"regression": func(verdict string) bool { return strings.HasPrefix(verdict, regressionMark) },
}).Parse(`
{{- define "head" -}}{{/* called with the page: .Title, and .Font when it has charts */}}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
{{with .Font}}{{.}}{{end}}
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; color: #1d232b; margin: 0; background: #f5f6f8; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .4em; }
h2 { font-size: 1.15em; margin: 1.8em 0 .6em; border-bottom: 1px solid #dde1e6; padding-bottom: .2em; }
nav a { margin-right: 1em; color: #2458a6; text-decoration: none; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid #e8ebef; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .92em; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; }
.banner { background: #fff3cd; border: 2px solid #d39e00; color: #6b4e00; padding: 10px 14px; font-weight: 600; margin: 12px 0; }
.bad { color: #b00020; font-weight: 600; }
.note { background: #fdecea; padding: 8px 12px; border-left: 4px solid #b00020; }
figure { margin: 0 0 22px; }
figure svg { width: 100%; height: auto; display: block; }
</style>
</head>
<body>
<main>
{{- end}}

{{- define "foot"}}
</main>
</body>
</html>
{{end}}

{{- define "rows"}}<table>{{range .}}<tr><th scope="row">{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>{{end}}

{{- define "run"}}{{template "head" .}}
<h1>{{.Title}}</h1>
{{if .Incomplete}}<div class="banner">INCOMPLETE RUN: {{.Incomplete}}; the figures cover what was recorded.</div>{{end}}
<nav><a href="#summary">Summary</a><a href="#latency">Latency</a><a href="#errors">Errors</a><a href="#charts">Charts</a><a href="#environment">Environment</a></nav>
<h2 id="summary">Summary</h2>
{{template "rows" .Summary}}
{{if .Shortfall}}<p class="note"><strong>Shortfall:</strong> {{.Shortfall}}</p>{{end}}
{{if .Thresholds}}<h3>Thresholds (hold phase)</h3>{{template "rows" .Thresholds}}{{end}}
<h2 id="latency">Latency</h2>
{{if .Latency.Rows}}<table><tr>{{range .Latency.Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Latency.Rows}}<tr>{{range $i, $c := .}}{{if $i}}<td class="num">{{$c}}</td>{{else}}<th scope="row">{{$c}}</th>{{end}}{{end}}</tr>
{{end}}</table>{{else}}<p>No latencies were recorded.</p>{{end}}
{{if .Faults}}<h2 id="faults">Faults</h2>
<pre>{{range .Faults}}{{.}}
{{end}}</pre>{{end}}
<h2 id="errors">Errors</h2>
{{if .Errors}}<table><tr><th>class</th><th>count</th><th>fix</th><th>example</th></tr>
{{range .Errors}}<tr><th scope="row"><code>{{.Class}}</code></th><td class="num">{{.Count}}</td><td>{{.Fix}}</td><td><code>{{.Example}}</code></td></tr>
{{end}}</table>{{else}}<p>No errors.</p>{{end}}
<h2 id="charts">Charts</h2>
{{range .Charts}}<figure id="{{.ID}}" aria-label="{{.Title}}">
{{.SVG}}</figure>
{{else}}<p>The run recorded no samples to chart.</p>{{end}}
<h2 id="environment">Environment</h2>
{{template "rows" .Env}}
{{if .Tune}}<h3>Tune check</h3><pre>{{range .Tune}}{{.}}
{{end}}</pre>{{end}}
{{if .Options}}<h2 id="options">Options</h2>
{{template "rows" .Options}}{{end}}
{{- template "foot"}}{{end}}

{{- define "compare"}}{{template "head" .}}
<h1>{{.Title}}</h1>
{{template "rows" .Runs}}
{{range .Warnings}}<p class="note"><strong>Warning:</strong> {{.}}</p>{{end}}
<h2 id="figures">Figures</h2>
<table><tr>{{range .Table.Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Table.Rows}}<tr>{{range $i, $c := .}}{{if eq $i 0}}<th scope="row">{{$c}}</th>{{else if eq $i 5}}<td{{if regression $c}} class="bad"{{end}}>{{$c}}</td>{{else}}<td class="num">{{$c}}</td>{{end}}{{end}}</tr>
{{end}}</table>
<p{{if .Regressed}} class="bad"{{end}}>{{.Verdict}}</p>
{{- template "foot"}}{{end}}
`))
