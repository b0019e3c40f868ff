package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reportRun is a fixture run of the reports package.
func reportRun(name string) string { return filepath.Join("..", "..", "reports", "testdata", name) }

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	future := filepath.Join(dir, "future.json")
	os.WriteFile(future, []byte(`{"schema_version": 99, "complete": true}`), 0o644)
	out := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		args     []string
		want     int
		file     string // written by the command, must hold contains
		contains string
	}{
		{[]string{"report", "--out", out("a.txt"), reportRun("complete")}, 0, "a.txt", "held at end    19,140"},
		{[]string{"report", reportRun("complete"), "--format", "html", "-o", out("a.html")}, 0, "a.html", "<svg"},
		{[]string{"report", reportRun("complete"), "--format", "md", "-o", out("new/dir/r.md")}, 0, "new/dir/r.md", "| held at end |"},
		{[]string{"report", reportRun("interrupted") + "/run.json", "--format=md", "--out", out("i.md")}, 0, "i.md", "INCOMPLETE RUN"},
		{[]string{"report", "compare", reportRun("complete"), reportRun("faster"), "--out", out("c.txt")}, 0, "c.txt", "REGRESSION"},
		{[]string{"report", "compare", "--fail-on-regression", "10%", "--format", "md", "--out", out("c.md"), reportRun("complete"), reportRun("faster")}, exitRegression, "c.md", "| connections held |"},
		{[]string{"report", "compare", reportRun("complete"), reportRun("complete"), "--fail-on-regression", "10", "-f", "html", "-o", out("same.html")}, 0, "same.html", "no figure got worse by more than 10%"},
		{[]string{"report", future}, 3, "", ""},
		{[]string{"report", filepath.Join(dir, "missing")}, 2, "", ""},
		{[]string{"report"}, 2, "", ""},
		{[]string{"report", "compare", reportRun("complete")}, 2, "", ""},
		{[]string{"report", "--format", "pdf", reportRun("complete")}, 2, "", ""},
		{[]string{"report", "compare", reportRun("complete"), reportRun("faster"), "--fail-on-regression", "lots"}, 2, "", ""},
	} {
		if got := run(append([]string{"imtool"}, tc.args...)); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.args, got, tc.want)
			continue
		}
		if tc.file != "" {
			data, err := os.ReadFile(out(tc.file))
			if err != nil || !strings.Contains(string(data), tc.contains) {
				t.Errorf("%v: %s lacks %q (%v)", tc.args, tc.file, tc.contains, err)
			}
		}
	}
	if _, err := os.Stat(out("i-charts/connections.png")); err != nil {
		t.Errorf("Markdown charts are not beside --out: %v", err)
	}
}
