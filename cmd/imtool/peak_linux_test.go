package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// A run that redials (here --churn) makes more connects than it holds: the
// summary, run.json and the progress line say both, and "achieved" is the
// most held at once, never more than requested. The gateway's own count of
// sessions during the hold is the observer of the held figure.
func TestPeakHeldAndConnects(t *testing.T) {
	bin := rt.Binary(t)
	base := freeBase(t, 1)
	gwStats := fmt.Sprintf("127.0.0.1:%d", freeBase(t, 1)+1)
	startProc(t, bin, "server", "--listen", "127.0.0.1", "--ports", fmt.Sprintf("%d-%d", base, base), "--stats", gwStats)
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", base))
	const n = 200
	dir := t.TempDir()
	swStats := fmt.Sprintf("127.0.0.1:%d", rt.FreePort(t))
	cmd := exec.Command(bin, "swarm", "--target", fmt.Sprintf("127.0.0.1:%d", base), "--conns", strconv.Itoa(n), "--procs", "1",
		"--hold", "4s", "--churn", "50/s", "--stats", swStats, "--tui=false", "--out", dir)
	out := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var sessions int64 = -1
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if strings.Contains(out.String(), " hold ") {
			if s, err := statsOf(gwStats); err == nil {
				sessions = s.Sessions
			}
			break
		}
	}
	// /metrics has the churn too, in the middle of the hold.
	time.Sleep(2 * time.Second)
	churnedMetric := -1.0
	if resp, err := http.Get("http://" + swStats + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := regexp.MustCompile(`(?m)^imtool_churned_total ([0-9.e+]+)$`).FindSubmatch(body); m != nil {
			churnedMetric, _ = strconv.ParseFloat(string(m[1]), 64)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("swarm: %v\n%s", err, out.String())
	}
	rec, raw := readRecord(t, dir)
	s := rec.Summary
	if churnedMetric <= 0 || churnedMetric > float64(s.Churned) {
		t.Errorf("/metrics imtool_churned_total %v during the hold; %d churned by the end", churnedMetric, s.Churned)
	}
	if s.PeakHeld != n || s.Established <= n || s.Churned == 0 {
		t.Fatalf("peak held %d, connects %d, churned %d: want %d held at most and more connects", s.PeakHeld, s.Established, s.Churned, n)
	}
	if sessions < n-10 || sessions > n {
		t.Errorf("the gateway counted %d sessions during the hold, the swarm's peak is %d", sessions, s.PeakHeld)
	}
	if sum, _ := raw["summary"].(map[string]any); sum["peak_held"] != float64(n) {
		t.Errorf("run.json summary.peak_held = %v", sum["peak_held"])
	}
	text := out.String()
	want := fmt.Sprintf("achieved       %d held at most at once; %s connects made (redials included)", n, stats.Thousands(s.Established))
	if !strings.Contains(text, want) {
		t.Errorf("the summary does not say %q:\n%s", want, text)
	}
	// The progress line: held of requested, connects apart.
	line := regexp.MustCompile(`hold +held (\d+)/(\d+)  connects (\d+)`).FindAllStringSubmatch(text, -1)
	if len(line) == 0 {
		t.Fatalf("no progress line with held and connects:\n%s", text)
	}
	last := line[len(line)-1]
	if h, _ := strconv.Atoi(last[1]); h > n || last[2] != strconv.Itoa(n) {
		t.Errorf("progress line %q: held more than requested", last[0])
	}
	if c, _ := strconv.Atoi(last[3]); c <= n {
		t.Errorf("progress line %q: connects do not count the redials", last[0])
	}
}
