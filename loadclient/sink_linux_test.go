//go:build linux

package loadclient

import (
	"net"
	"sync"
	"testing"
	"time"
)

// sink is a loopback listener that accepts connections and holds them
// without reading, noting when it accepted its first and its last; they
// are closed at cleanup.
type sink struct {
	ln          net.Listener
	mu          sync.Mutex
	conns       []net.Conn
	first, last time.Time
}

func newSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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
			now := time.Now()
			s.mu.Lock()
			if s.first.IsZero() {
				s.first = now
			}
			s.last = now
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sink) addr() string { return s.ln.Addr().String() }

// accepted is how many connections it took, and the span from the first
// accept to the last.
func (s *sink) accepted() (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns), s.last.Sub(s.first)
}
