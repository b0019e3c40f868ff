package reports

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// imtool returns the command, built once for the tests that need real runs.
func imtool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("real runs are skipped with -short")
	}
	return rt.Binary(t)
}

func TestMain(m *testing.M) {
	code := m.Run()
	rt.RemoveBinary()
	os.Exit(code)
}

func bench(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, ports := rt.FreePorts(t, 20) // not 9000-9019: other packages' tests run at the same time
	out, err := exec.CommandContext(ctx, bin, append([]string{"bench", "--out", dir, "--ports", ports}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("imtool bench %v: %v\n%s", args, err, out)
	}
}

// A real bench run renders as a self-contained HTML page whose charts carry
// the run's own numbers; two runs compare, and --fail-on-regression turns
// a regression into exit code 5.
func TestRealBenchReports(t *testing.T) {
	bin := imtool(t)
	small, large := filepath.Join(t.TempDir(), "2k"), filepath.Join(t.TempDir(), "4k")
	bench(t, bin, small, "--conns", "2000", "--hold", "3s")
	bench(t, bin, large, "--conns", "4000", "--hold", "3s")

	rec := load(t, small)
	if !rec.Complete || rec.Summary.Held == 0 || len(rec.Series) == 0 {
		t.Fatalf("the bench run left complete=%v, %d held, %d samples", rec.Complete, rec.Summary.Held, len(rec.Series))
	}
	page := htmlReport(t, small)
	if !strings.Contains(page, stats.Thousands(rec.Summary.PeakHeld)+" held at most at once; "+stats.Thousands(rec.Summary.Established)+" connects made") {
		t.Errorf("the HTML report does not show the run's %s held at most at once and %s connects", stats.Thousands(rec.Summary.PeakHeld), stats.Thousands(rec.Summary.Established))
	}
	screenshot(t, page, "bench-2000")

	out, err := exec.Command(bin, "report", "compare", small, large, "--fail-on-regression", "0%").CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 5) {
		t.Fatalf("report compare: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("connect rate mean")) {
		t.Errorf("report compare shows no connect rate:\n%s", out)
	}
}

// A bench interrupted with SIGINT mid-ramp still renders, marked incomplete.
func TestRealBenchInterrupted(t *testing.T) {
	bin := imtool(t)
	dir := filepath.Join(t.TempDir(), "interrupted")
	_, ports := rt.FreePorts(t, 20)
	cmd := exec.Command(bin, "bench", "--out", dir, "--ports", ports, "--conns", "15000", "--rate", "2000", "--hold", "30s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // a few samples into the ramp
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("imtool bench did not stop within 30 s of SIGINT")
	}
	rec := load(t, dir)
	if rec.Complete {
		t.Fatalf("a run interrupted mid-ramp is marked complete")
	}
	var txt bytes.Buffer
	if err := Text(&txt, rec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "INCOMPLETE") {
		t.Errorf("the interrupted run is not marked INCOMPLETE:\n%s", txt.String())
	}
	htmlReport(t, dir)
}
