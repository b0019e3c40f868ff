package refservertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// BuildBinary builds cmd/imtool into dir and returns its path. Call it from
// TestMain, once per test binary.
func BuildBinary(dir string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, "imtool")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/imtool")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/imtool: %v\n%s", err, out)
	}
	return bin, nil
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary is cmd/imtool built once per test binary, into a directory of its
// own that RemoveBinary deletes (call it from TestMain after m.Run).
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imtool-test-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath, binErr = BuildBinary(dir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// RemoveBinary deletes what Binary built, if it built anything.
func RemoveBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// Proc is a process of the imtool binary started by a test.
type Proc struct {
	Cmd    *exec.Cmd
	mu     sync.Mutex
	output bytes.Buffer
	done   chan struct{}
	err    error
}

type lockedWriter struct{ p *Proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.output.Write(b)
}

// Start runs bin with args; it is killed at cleanup if still running, and
// its output is logged when the test fails.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.Cmd.Stdout = lockedWriter{p}
	p.Cmd.Stderr = lockedWriter{p}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// Output is what the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.Cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Wait waits up to d for the process to end and returns its error.
func (p *Proc) Wait(d time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, _ := FreePorts(t, 1)
	return ports[0]
}

// nextPort spreads the ports handed out across a test binary's calls.
var nextPort atomic.Int32

// FreePorts returns n distinct loopback ports nobody listens on, and the
// same as a --ports list. They lie below Linux's default ephemeral range
// (32768 and up), so no outgoing connection of a concurrent test takes one
// between now and the moment the test listens on it.
func FreePorts(t testing.TB, n int) ([]int, string) {
	t.Helper()
	const lo, hi = 20000, 32767
	start := lo + (os.Getpid()*97)%(hi-lo)
	var ports []int
	for tries := 0; len(ports) < n && tries < hi-lo; tries++ {
		p := lo + (start-lo+int(nextPort.Add(1)))%(hi-lo)
		ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		t.Fatalf("found only %d free loopback ports of %d", len(ports), n)
	}
	s := make([]string, n)
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return ports, strings.Join(s, ",")
}

// GetStats reads a /stats endpoint.
func GetStats(url string) (stats.Snapshot, error) {
	var s stats.Snapshot
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return s, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// WaitStats polls url until cond holds, failing after timeout.
func WaitStats(t testing.TB, url string, timeout time.Duration, what string, cond func(stats.Snapshot) bool) stats.Snapshot {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last stats.Snapshot
	var err error
	for time.Now().Before(deadline) {
		if last, err = GetStats(url); err == nil && cond(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waiting for %s at %s: last %+v, err %v", what, url, last, err)
	return last
}

// Eventually polls cond until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
