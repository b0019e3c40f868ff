package refserver

import (
	"sync"
	"sync/atomic"

	"github.com/imtool/imtool/internal/evio"
	"github.com/imtool/imtool/internal/ws"
)

const (
	stateNew uint8 = iota
	stateLoggedIn
)

// session is one client connection. Only the connection's evio loop reads
// its input and writes its socket; any goroutine may queue output (under mu)
// and Wake the loop to send it. It is paid per connection, so it is kept to
// 64 bytes: buffers live behind a pointer that is nil while the connection
// is idle.
type session struct {
	conn evio.Conn
	fd   int32
	port int32 // index into the gateway's ports

	mu      sync.Mutex
	uid     uint64
	state   uint8
	closing bool  // close once out is flushed
	dead    bool  // close now; out is discarded
	ws      uint8 // wsNone, wsUpgrading or wsOpen (ws.go)
	bufs    *bufs // nil when nothing is queued or pending

	// seen is when (ns since gateway start) the connection opened or, once
	// logged in, last sent a frame.
	seen atomic.Int64
}

// bufs holds a session's frames not yet written to the socket and the start
// of a frame split across reads.
type bufs struct {
	out []byte
	in  []byte
	ws  []byte // the start of a WebSocket frame split across reads
}

// buffers returns s.bufs, allocating it. Call with mu held.
func (s *session) buffers() *bufs {
	if s.bufs == nil {
		s.bufs = &bufs{}
	}
	return s.bufs
}

// trimBuffers drops s.bufs when both are empty. Call with mu held.
func (s *session) trimBuffers() {
	if b := s.bufs; b != nil && len(b.out) == 0 && len(b.in) == 0 && len(b.ws) == 0 {
		s.bufs = nil
	}
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
	b := s.buffers()
	b.out = s.frame(b.out, build)
	g.framesOut.Add(1)
	if len(b.out) > g.opts.MaxQueue {
		s.dead, s.bufs = true, nil
		g.slowClients.Add(1)
		return false
	}
	return true
}

// finish queues a last frame and marks the session to close after it.
func (s *session) finish(g *Gateway, build func([]byte) []byte) {
	s.queue(g, build)
	s.mu.Lock()
	if !s.closing && !s.dead {
		s.wsEnd(ws.CloseNormal)
	}
	s.closing = true
	s.mu.Unlock()
}

func (s *session) loggedIn() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uid, s.state == stateLoggedIn
}
