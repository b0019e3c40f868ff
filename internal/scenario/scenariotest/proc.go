// Package scenariotest starts the real servers that the shipped scenario
// files (examples/protocols/) are tested against, on loopback ports it
// picks: Debian's nats-server, Centrifugo v6, a Socket.IO v4 server on
// Debian's node, and a goim-style length-prefixed binary gateway written
// here from goim's published header layout. Each one exposes its own count
// of connections, the independent observer of the swarm's held figure, and
// is stopped when the test ends, even when it fails.
//
// A server that is not installed skips the test, except under CI (CI set),
// where .ci/run installs every one and a missing one fails: a check that
// was skipped is not a check that passed.
package scenariotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Missing skips t (or fails it under CI) because what is not installed;
// install says how to install it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (%s); .ci/run installs it", what, install)
	}
	t.Skipf("%s is not installed (%s)", what, install)
}

// Proc is a server process started for a test.
type Proc struct {
	Cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
}

// Start starts bin with args in dir (the test's current directory when
// ""), its output kept for Log, and stops it when t ends.
func Start(t testing.TB, dir, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...), exited: make(chan struct{}), log: new(syncBuffer)}
	p.Cmd.Dir = dir
	p.Cmd.Stdout, p.Cmd.Stderr = p.log, p.log
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.Cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)
	return p
}

// Log is what the process wrote so far.
func (p *Proc) Log() string { return p.log.String() }

// Exited tells whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after 3 s.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		p.Cmd.Process.Kill()
		<-p.exited
	}
}

// WaitTCP waits (timeout at most) until addr accepts a TCP connection;
// false when it did not or the process ended first.
func (p *Proc) WaitTCP(addr string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		if p.Exited() {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// FreePort is a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is 127.0.0.1:port.
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// syncBuffer is a process's output, written by its pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
