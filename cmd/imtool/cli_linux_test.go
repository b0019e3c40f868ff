//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"

	"github.com/imtool/imtool/internal/stats"
)

// `imtool server --ports P` listens on the one port P; a second server on
// it fails with exit 3 and the fix for a port in use (not --procs, which
// shares ports only among one gateway's own shards).
func TestServerOnePortAndPortInUse(t *testing.T) {
	bin := imtoolBinary(t)
	ports, _ := rt.FreePorts(t, 1)
	port := strconv.Itoa(ports[0])
	first := startProc(t, bin, "server", "--listen", "127.0.0.1", "--ports", port, "--stats", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp4", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server --ports %s does not listen on %s: %v\n%s", port, port, err, first.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	second := startProc(t, bin, "server", "--listen", "127.0.0.1", "--ports", port, "--stats", "")
	if code := second.wait(t, 20*time.Second); code != exitFailed {
		t.Fatalf("a second server on a port in use: exit %d, want %d\n%s", code, exitFailed, second.out.String())
	}
	out := second.out.String()
	for _, want := range []string{"address already in use", "another process listens there (ss -ltnp 'sport = :" + port + "' names it)", "choose other --ports"} {
		if !strings.Contains(out, want) {
			t.Errorf("the port-in-use error lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--procs") {
		t.Errorf("the port-in-use error suggests --procs:\n%s", out)
	}
}

// A swarm against a closed port holds nothing and has nothing left to try:
// it ends early, with the reason, instead of sitting out a 10-minute hold;
// with --reconnect it keeps trying until stopped.
func TestSwarmEndsEarlyWhenNothingIsHeld(t *testing.T) {
	bin := imtoolBinary(t)
	ports, _ := rt.FreePorts(t, 1) // nothing listens there
	target := fmt.Sprintf("127.0.0.1:%d", ports[0])
	p := startProc(t, bin, "swarm", "--target", target, "--conns", "20", "--procs", "1", "--hold", "10m", "--stats", "", "--tui=false")
	if code := p.wait(t, 60*time.Second); code != exitShort {
		t.Fatalf("exit %d, want %d", code, exitShort)
	}
	for _, want := range []string{"nothing held and nothing left to try: the hold ended early", "econnrefused × 20", "held 0 of 20 requested"} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, p.out.String())
		}
	}
	r := startProc(t, bin, "swarm", "--target", target, "--conns", "20", "--procs", "1", "--hold", "10m", "--reconnect", "--stats", "", "--tui=false")
	select {
	case <-r.done:
		t.Fatalf("with --reconnect the swarm ended by itself:\n%s", r.out.String())
	case <-time.After(4 * time.Second):
	}
	r.cmd.Process.Signal(os.Interrupt)
	r.wait(t, 30*time.Second)
}

// Thresholds end to end, against the reference gateway: --json prints one
// JSON document on stdout (progress on stderr), a threshold not met exits
// 4, run.json keeps the results, the text report marks them ✓/✗, and the
// figures behind them are the run's own: held matches the kernel's count
// of established connections at the gateway's port.
func TestSwarmThresholdsAndJSON(t *testing.T) {
	bin := imtoolBinary(t)
	base := freeBase(t, 1)
	startProc(t, bin, "server", "--listen", "127.0.0.1", "--ports", strconv.Itoa(base)+"-"+strconv.Itoa(base), "--stats", "")
	time.Sleep(300 * time.Millisecond)
	const n = 300
	dir := t.TempDir()
	cmd := exec.Command(bin, "swarm", "--target", fmt.Sprintf("127.0.0.1:%d", base), "--conns", strconv.Itoa(n), "--procs", "1",
		"--hold", "4s", "--heartbeat", "500ms", "--stats", "", "--tui=false", "--out", dir, "--json",
		"--threshold", "held==requested", "--threshold", "heartbeat.p99<10s", "--threshold", "heartbeat.p50<1ns", "--threshold", "errors==0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// During the hold, the kernel's count of the gateway's established side.
	kernel := -1
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if strings.Contains(stderr.String(), "hold") {
			time.Sleep(time.Second)
			kernel = ssCount(t, base, base)
			break
		}
	}
	doc, _ := io.ReadAll(stdout)
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != exitThreshold {
		t.Fatalf("exit %d, want %d (heartbeat.p50<1ns cannot be met)\nstderr:\n%s", code, exitThreshold, stderr.String())
	}
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	var sum stats.Record
	if err := dec.Decode(&sum); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, doc)
	}
	if dec.More() {
		t.Errorf("stdout holds more than one JSON document:\n%s", doc)
	}
	assertSnakeCase(t, "swarm --json", string(doc))
	if len(sum.Series) != 0 {
		t.Error("the JSON summary carries the series")
	}
	want := map[string]bool{"held==requested": true, "heartbeat.p99<10s": true, "heartbeat.p50<1ns": false, "errors==0": true}
	if len(sum.Thresholds) != len(want) {
		t.Fatalf("thresholds %+v", sum.Thresholds)
	}
	for _, th := range sum.Thresholds {
		if ok, known := want[th.Expr]; !known || th.OK != ok {
			t.Errorf("threshold %+v, want ok=%v", th, ok)
		}
	}
	if held := sum.Thresholds[0].Value; held != n || kernel != n {
		t.Errorf("held==requested measured %v; the kernel counted %d established at the gateway's port; want %d", held, kernel, n)
	}
	if hb := sum.Summary.HoldLatency["heartbeat"]; sum.Thresholds[1].Value != hb.P99 || hb.Count == 0 {
		t.Errorf("heartbeat.p99 threshold value %v, hold p99 %v (%d samples)", sum.Thresholds[1].Value, hb.P99, hb.Count)
	}
	if !strings.Contains(stderr.String(), "1 of 4 thresholds failed: heartbeat.p50<1ns") {
		t.Errorf("stderr does not name the failed threshold:\n%s", stderr.String())
	}
	rec, _ := readRecord(t, dir)
	if len(rec.Thresholds) != 4 || rec.ThresholdsFailed() != 1 {
		t.Errorf("run.json thresholds %+v", rec.Thresholds)
	}
	code, text, _ := imtoolRun(t, "report", dir)
	if code != 0 || !strings.Contains(text, "✓ held==requested") || !strings.Contains(text, "✗ heartbeat.p50<1ns") {
		t.Errorf("the text report does not list the thresholds as ✓/✗ (exit %d):\n%s", code, text)
	}
}

// bench --json: stdout is one JSON document (the bench's notes and progress
// go to stderr) with the thresholds met, and the held count the threshold
// saw is the one the gateways counted (the kernel's count is not exact
// here: other processes of the host open sockets too).
func TestBenchJSON(t *testing.T) {
	bin := imtoolBinary(t)
	_, ports := rt.FreePorts(t, 2)
	cmd := exec.Command(bin, "bench", "--conns", "300", "--hold", "2s", "--ports", ports, "--stats", "", "--tui=false",
		"--out", t.TempDir(), "--json", "--threshold", "held==requested", "--threshold", "errors==0")
	var stdout strings.Builder
	stderr := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench --json: %v\nstderr:\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(strings.NewReader(stdout.String()))
	var rec stats.Record
	if err := dec.Decode(&rec); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON document (%v):\n%s", err, stdout.String())
	}
	assertSnakeCase(t, "bench --json", stdout.String())
	if rec.Command != "bench" || len(rec.Thresholds) != 2 || rec.ThresholdsFailed() != 0 {
		t.Fatalf("command %q thresholds %+v", rec.Command, rec.Thresholds)
	}
	c := rec.Summary.Counts
	if c == nil || int64(rec.Thresholds[0].Value) != c.Server || c.Server != 300 {
		t.Errorf("held==requested saw %v; the counts are %+v", rec.Thresholds[0].Value, c)
	}
	if !strings.Contains(stderr.String(), "bench: starting a dispatcher") {
		t.Errorf("the bench's notes are not on stderr:\n%s", stderr.String())
	}
}
