package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `report --format md` without --out writes the Markdown to stdout and
// nothing to disk: no charts folder appears in the current directory (it
// used to drop RUN-charts/ there).
func TestReportMarkdownToStdoutWritesNoFiles(t *testing.T) {
	run1 := filepath.Join("..", "..", "reports", "testdata", "complete")
	abs, err := filepath.Abs(run1)
	if err != nil {
		t.Fatal(err)
	}
	cwd := t.TempDir()
	t.Chdir(cwd)
	stdout := filepath.Join(t.TempDir(), "stdout")
	f, err := os.Create(stdout)
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = f
	code := run([]string{"imtool", "report", abs, "--format", "md"})
	os.Stdout = saved
	f.Close()
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	entries, err := os.ReadDir(cwd)
	if err != nil || len(entries) != 0 {
		t.Fatalf("the current directory got %v (%v), want nothing", entries, err)
	}
	md, _ := os.ReadFile(stdout)
	if !strings.Contains(string(md), "| held at end |") || !strings.Contains(string(md), "--out FILE.md") || strings.Contains(string(md), ".png") {
		t.Fatalf("Markdown on stdout:\n%s", md)
	}
}
