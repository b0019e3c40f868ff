//go:build linux

package loadclient

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sink is a loopback listener that accepts connections and holds them
// without reading, noting when the kernel completed the handshake of its
// first and of its last (the accepted socket's TCP_INFO: the handshake's
// final ACK is the last one it received from a client that sends nothing),
// so that a late accept loop does not move them; they are closed at
// cleanup.
type sink struct {
	ln          net.Listener
	mu          sync.Mutex
	conns       []net.Conn
	first, last time.Time
}

// newSink listens on 127.0.0.1 in the test's own network namespace.
func newSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveSink(t, ln)
}

// newSinkIn listens on 127.0.0.1 inside the network namespace ns, with the
// accept queue that namespace's net.core.somaxconn allows (Go's own
// listeners take the host's).
func newSinkIn(t *testing.T, ns string) *sink {
	t.Helper()
	type result struct {
		ln  net.Listener
		err error
	}
	done := make(chan result, 1)
	// The thread enters ns and is thrown away with the goroutine (it ends
	// locked); the socket stays in ns.
	go func() {
		runtime.LockOSThread()
		ln, err := func() (net.Listener, error) {
			f, err := os.Open("/var/run/netns/" + ns)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				return nil, fmt.Errorf("setns %s: %w", ns, err)
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return nil, err
			}
			lf := os.NewFile(uintptr(fd), "sink")
			defer lf.Close()
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return nil, err
			}
			if err := unix.Listen(fd, 1<<20); err != nil { // capped at the namespace's somaxconn
				return nil, err
			}
			return net.FileListener(lf)
		}()
		done <- result{ln, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("listen in namespace %s: %v", ns, r.err)
	}
	return serveSink(t, r.ln)
}

func serveSink(t *testing.T, ln net.Listener) *sink {
	s := &sink{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			est := handshakeDone(c)
			s.mu.Lock()
			if s.first.IsZero() || est.Before(s.first) {
				s.first = est
			}
			if est.After(s.last) {
				s.last = est
			}
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	return s
}

// handshakeDone is when the kernel received the last ACK on c: for a
// client that has sent nothing yet, its handshake's, to the kernel's tick.
func handshakeDone(c net.Conn) time.Time {
	now := time.Now()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return now
	}
	var ago time.Duration
	_ = raw.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			ago = time.Duration(ti.Last_ack_recv) * time.Millisecond
		}
	})
	return now.Add(-ago)
}

func (s *sink) addr() string { return s.ln.Addr().String() }

// accepted is how many connections it took, and the span from the first
// handshake to the last.
func (s *sink) accepted() (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns), s.last.Sub(s.first)
}
