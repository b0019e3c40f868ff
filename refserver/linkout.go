package refserver

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// linkOut is the outgoing byte stream of one link connection (gateway ↔
// dispatcher). Frames go out in the order they are added, whoever writes
// them. The goroutine that produces a frame writes it itself, without
// blocking, when no other write is under way: a routed message then costs
// no hand-over to a writer goroutine, which on a busy host waits for a
// thread (and on an event loop's process, for the loop to be preempted).
// What the socket does not take at once is left to the link's writer
// goroutine (flush), which blocks until it is written or the write deadline
// passes.
type linkOut struct {
	c  net.Conn
	rc syscall.RawConn

	mu      sync.Mutex
	buf     []byte // added, not yet written
	writing bool   // a goroutine is writing buf; it writes what is added meanwhile too
	kick    chan struct{}
}

func newLinkOut(c net.Conn) (*linkOut, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("link connection %T has no file descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("link connection: %w", err)
	}
	return &linkOut{c: c, rc: rc, kick: make(chan struct{}, 1)}, nil
}

// add appends a frame without writing it: push (or the writer) does.
func (o *linkOut) add(build func([]byte) []byte) {
	o.mu.Lock()
	o.buf = build(o.buf)
	o.mu.Unlock()
}

// send appends a frame and writes what is queued, without blocking.
func (o *linkOut) send(build func([]byte) []byte) {
	o.add(build)
	o.push()
}

// push writes what is queued without blocking, unless another goroutine is
// writing (it writes this too); what the socket does not take is left to
// the writer goroutine, which it wakes. A write error is the writer's to
// report.
func (o *linkOut) push() {
	o.mu.Lock()
	if o.writing || len(o.buf) == 0 {
		o.mu.Unlock()
		return
	}
	o.writing = true
	for len(o.buf) > 0 {
		b := o.buf // appends go past len(b): b stays as it is
		o.mu.Unlock()
		n, again, err := o.tryWrite(b)
		o.mu.Lock()
		o.consumed(n)
		if again || err != nil {
			break
		}
	}
	o.writing = false
	left := len(o.buf) > 0
	o.mu.Unlock()
	if left {
		select {
		case o.kick <- struct{}{}:
		default:
		}
	}
}

// consumed drops the n bytes written from buf, and the memory of a burst
// once it is all out. Call with mu held, as the writing goroutine.
func (o *linkOut) consumed(n int) {
	o.buf = o.buf[:copy(o.buf, o.buf[n:])]
	if len(o.buf) == 0 && cap(o.buf) > 64<<10 {
		o.buf = nil
	}
}

func (o *linkOut) tryWrite(b []byte) (n int, again bool, err error) {
	cerr := o.rc.Write(func(fd uintptr) bool {
		n, again, err = writeFD(int(fd), b)
		return true // never wait: the writer goroutine does
	})
	if cerr != nil {
		return 0, false, cerr
	}
	return n, again, err
}

// flush writes everything queued, blocking, each write within linkDead; the
// link's writer goroutine calls it. If another goroutine is writing, that
// one writes what is queued (and wakes the writer for what it cannot).
func (o *linkOut) flush() error {
	o.mu.Lock()
	if o.writing {
		o.mu.Unlock()
		return nil
	}
	o.writing = true
	var err error
	for len(o.buf) > 0 && err == nil {
		b := o.buf
		o.mu.Unlock()
		o.c.SetWriteDeadline(time.Now().Add(linkDead))
		var n int
		n, err = o.c.Write(b)
		o.mu.Lock()
		o.consumed(n)
	}
	o.writing = false
	o.mu.Unlock()
	return err
}
