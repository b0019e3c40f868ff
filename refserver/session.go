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
	port uint16 // index into the gateway's ports
	loop uint16 // index of the evio loop that owns the connection

	mu      sync.Mutex
	uid     uint64
	state   uint8
	closing bool  // close once out is flushed
	dead    bool  // nothing more is written; close now
	shut    bool  // lingerClose done, or the fd closed: no more syscalls on it
	ws      uint8 // wsNone, wsUpgrading or wsOpen (ws.go)
	bufs    *bufs // nil when nothing is queued or pending

	// seen is when (ns since gateway start) the connection opened or, once
	// logged in, last sent a whole frame.
	seen atomic.Int64
}

// bufs holds a session's bytes not yet written to the socket, where its
// imtool frames among them end, the answers owed once some of them are
// written, and the start of a frame split across reads. Offsets count the
// bytes appended to out since bufs was made.
type bufs struct {
	out     []byte
	in      []byte
	ws      []byte       // the start of a WebSocket frame split across reads
	ends    []int64      // where each imtool frame not yet written ends, in order
	acks    []pendingAck // in stream order
	written int64        // bytes of out written
	stuck   int64        // when (gateway ns) a write last found the socket full with no progress since; 0 when it is not
}

// pendingAck is the answer owed for a DELIVER: ACK 0 to the sender once the
// DELIVER is written to the recipient's socket, ACK 1 if the recipient's
// connection ends first. A local sender is answered on its session; a
// sender on another gateway by a RESULT on the dispatcher link.
type pendingAck struct {
	end    int64    // the DELIVER is written once bufs.written reaches end
	queued int64    // when (gateway ns) it was queued
	to     *session // the local sender; nil: a RESULT to the dispatcher
	id     uint64   // the sender's msg_id, or the route's req
	epoch  uint64   // the route's origin gateway (its HELLO epoch)
	origin uint32   // the route's origin slot
	gen    uint32   // the dispatcher link the route came on
}

// buffers returns s.bufs, allocating it. Call with mu held.
func (s *session) buffers() *bufs {
	if s.bufs == nil {
		s.bufs = &bufs{}
	}
	return s.bufs
}

// trimBuffers drops s.bufs when nothing is queued or pending. Call with mu held.
func (s *session) trimBuffers() {
	if b := s.bufs; b != nil && len(b.out) == 0 && len(b.in) == 0 && len(b.ws) == 0 && len(b.acks) == 0 {
		s.bufs = nil
	}
}

// queued is the offset just past the last byte appended to out.
func (b *bufs) queued() int64 { return b.written + int64(len(b.out)) }

// wrote records that n bytes at the front of out were written: it drops
// them, returns how many imtool frames they completed, and moves the
// answers they completed to done.
func (b *bufs) wrote(n int, done []pendingAck) (frames int, _ []pendingAck) {
	b.out = b.out[n:]
	b.written += int64(n)
	for frames < len(b.ends) && b.ends[frames] <= b.written {
		frames++
	}
	b.ends = dropFront(b.ends, frames)
	i := 0
	for i < len(b.acks) && b.acks[i].end <= b.written {
		i++
	}
	done = append(done, b.acks[:i]...)
	b.acks = dropFront(b.acks, i)
	return frames, done
}

// dropFront drops the first n elements of s, keeping its array once empty.
func dropFront[T any](s []T, n int) []T {
	if n == len(s) {
		return s[:0]
	}
	return s[n:]
}

// Kinds of frame for put.
const (
	frameReply   = iota // an answer to the client's own frame (PONG, ACK, LOGIN_OK)
	frameDeliver        // a DELIVER, which may be refused
	frameLast           // KICK or ERROR: the session closes after it
)

// queue appends the reply build writes, unless the session is closing.
func (s *session) queue(g *Gateway, build func([]byte) []byte) bool {
	return s.put(g, build, nil, frameReply)
}

// deliver appends the DELIVER build writes and with it the answer a owes
// once it is written (nil: none). It reports whether it was queued: not
// when the session is closing, nor when its queue is full (see put).
func (s *session) deliver(g *Gateway, build func([]byte) []byte, a *pendingAck) bool {
	return s.put(g, build, a, frameDeliver)
}

// finish queues a last frame (KICK or ERROR) and marks the session to close
// after it, in one step: no frame is ever queued after the last one.
func (s *session) finish(g *Gateway, build func([]byte) []byte) bool {
	return s.put(g, build, nil, frameLast)
}

// put queues a frame of kind. A queue that would pass MaxQueue while the
// socket takes nothing makes the client slow: it is cut off (see cutOff)
// rather than allowed to grow the server's memory, and the frame is not
// queued. While its loop has not yet tried to write the queue (a burst
// from other loops or the dispatcher), a DELIVER over MaxQueue is refused
// instead: the client is not known to be slow.
func (s *session) put(g *Gateway, build func([]byte) []byte, a *pendingAck, kind int) bool {
	s.mu.Lock()
	if s.closing || s.dead {
		s.mu.Unlock()
		return false
	}
	b := s.buffers()
	n := len(b.out)
	b.out = s.frame(b.out, build)
	if len(b.out) == n { // before a WebSocket upgrade: nothing is sent
		s.closing = s.closing || kind == frameLast
		s.mu.Unlock()
		return kind == frameLast
	}
	if len(b.out) > g.opts.MaxQueue && n > 0 {
		b.out = b.out[:n]
		if b.stuck == 0 && kind == frameDeliver {
			s.mu.Unlock()
			return false
		}
		lost := s.cutOff(g)
		s.mu.Unlock()
		g.answer(-1, lost, 1)
		s.conn.Wake() // its loop closes it
		return false
	}
	end := b.queued()
	b.ends = append(b.ends, end)
	if a != nil {
		a.end, a.queued = end, g.now()
		b.acks = append(b.acks, *a)
	}
	if kind == frameLast {
		s.wsEnd(ws.CloseNormal)
		s.closing = true
	}
	s.mu.Unlock()
	return true
}

// cutOff ends a slow client: nothing more is written to it, and the
// answers owed for DELIVERs not yet written are returned, to be answered 1
// (the recipient is gone). Call with mu held.
func (s *session) cutOff(g *Gateway) []pendingAck {
	s.dead = true
	g.slowClients.Add(1)
	var lost []pendingAck
	if s.bufs != nil {
		lost = s.bufs.acks
		s.bufs = nil
	}
	return lost
}

func (s *session) loggedIn() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uid, s.state == stateLoggedIn
}
