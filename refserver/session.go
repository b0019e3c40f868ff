package refserver

import (
	"sync"
	"sync/atomic"

	"github.com/tidwall/evio"
)

const (
	stateNew uint8 = iota
	stateLoggedIn
)

// session is one client connection. Only the connection's evio loop reads
// its input and writes its socket; any goroutine may queue output (under mu)
// and Wake the loop to send it. Kept small: it is paid per connection.
type session struct {
	conn evio.Conn
	fd   int
	port int32 // index into the gateway's ports

	mu      sync.Mutex
	uid     uint64
	state   uint8
	closing bool   // close once out is flushed
	dead    bool   // close now; out is discarded
	out     []byte // frames not yet written to the socket
	in      []byte // the start of a frame split across reads (usually nil)
	opened  int64  // ns since gateway start

	seen atomic.Int64 // ns since gateway start of the last frame received
}

// queue appends the frame build writes, unless the session is closing. A
// queue over limit marks the client slow: it is disconnected rather than
// allowed to grow the server's memory. It reports whether the frame was queued.
func (s *session) queue(g *Gateway, build func([]byte) []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.dead {
		return false
	}
	s.out = build(s.out)
	g.framesOut.Add(1)
	if len(s.out) > g.opts.MaxQueue {
		s.dead, s.out = true, nil
		g.slowClients.Add(1)
		return false
	}
	return true
}

// finish queues a last frame and marks the session to close after it.
func (s *session) finish(g *Gateway, build func([]byte) []byte) {
	s.queue(g, build)
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
}

func (s *session) loggedIn() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uid, s.state == stateLoggedIn
}
