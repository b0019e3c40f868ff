// Package reports keeps and renders the record of a run. Collecting and
// rendering are separate: a Writer receives samples while swarm or bench
// runs — appending each to DIR/series.jsonl at once, so a crash or Ctrl-C
// still leaves something to report — and writes DIR/run.json at the end;
// Load reads a record back (a finished one, or an interrupted one from its
// series); Text, Markdown and HTML render one record, and Compare sets two
// side by side. HTML reports are one self-contained file: the charts are
// drawn with gonum.org/v1/plot and inlined as SVG, so they open offline.
package reports
