//go:build linux

package loadclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/rawio"
	"github.com/imtool/imtool/internal/tlsrec"
)

// TLS on the epoll engine. Once a connection's TCP connect completes, its
// handshake runs by crypto/tls (tlsrec.Client) on the process's handshake
// pool, with blocking I/O on a duplicate of the socket, while the loop
// ignores the socket's events (stTLS, still connecting: in the --max-inflight
// window and the ramp). The outcome comes back to the loop through its
// handover queue, which the loop takes on every wake-up (the grid's period),
// so no wake-up of its own is needed. From there on the loop carries the
// connection: what it reads goes through Session.Open before the protocol,
// everything the protocol writes through Session.Seal before the socket and
// its queue (which therefore holds records, sealed once, in order).

// tlsWorkersPerCPU is how many handshakes run at once per CPU. A
// handshake is mostly waiting (round trips, the server's key exchange,
// nginx's tickets, which come a round trip after the client's Finished),
// so a few per CPU keep the CPU busy; the bound keeps the goroutine stacks
// that crypto/tls grows (tens of KiB each) to a fixed number however wide
// the ramp's window.
const tlsWorkersPerCPU = 8

// tlsPool runs the handshakes of every loop of the process.
type tlsPool struct {
	c      *core
	ctx    context.Context // ends at the engine's end: handshakes under way stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	more   sync.Cond // a job was queued, or the pool closed
	jobs   []tlsJob
	closed bool
}

// tlsJob is one connection's handshake: its socket's duplicate dup, which
// the job owns (so the loop may close its own fd meanwhile, and that fd's
// number be reused, without the handshake touching another socket).
type tlsJob struct {
	l        *eloop
	slot, fd int32 // the loop's slot and fd, to match the outcome to the connection
	dup      int
	dest     int   // plan destination index: the TLS config (SNI, sessions)
	start    int64 // when the TCP connect was over, ns since start
}

// tlsResult is a handshake's outcome, for the loop.
type tlsResult struct {
	slot, fd  int32
	s         *tlsrec.Session
	pending   []byte // read past the handshake: records for Open first
	resumed   bool
	certAsked bool  // the server asked for a client certificate
	took      int64 // from the TCP connect's end to the handshake's, ns
	err       error
}

func newTLSPool(c *core) *tlsPool {
	p := &tlsPool{c: c}
	p.more.L = &p.mu
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// start starts the workers.
func (p *tlsPool) start() {
	n := tlsWorkersPerCPU * runtime.GOMAXPROCS(0)
	p.wg.Add(n)
	for range n {
		go p.work()
	}
}

// stop aborts the handshakes under way, drops the queued ones and waits for
// the workers.
func (p *tlsPool) stop() {
	p.cancel()
	p.mu.Lock()
	p.closed = true
	for _, j := range p.jobs {
		_ = unix.Close(j.dup)
	}
	p.jobs = nil
	p.mu.Unlock()
	p.more.Broadcast()
	p.wg.Wait()
}

func (p *tlsPool) submit(j tlsJob) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = unix.Close(j.dup)
		return
	}
	p.jobs = append(p.jobs, j)
	p.mu.Unlock()
	p.more.Signal()
}

func (p *tlsPool) work() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		for len(p.jobs) == 0 && !p.closed {
			p.more.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		j := p.jobs[0]
		p.jobs = p.jobs[1:]
		p.mu.Unlock()
		j.l.tls.handOver(p.handshake(j))
	}
}

// handshake runs j's handshake within --connect-timeout of the TCP
// connect's end: the time it waited for a worker counts.
func (p *tlsPool) handshake(j tlsJob) tlsResult {
	r := tlsResult{slot: j.slot, fd: j.fd}
	f := os.NewFile(uintptr(j.dup), "tls")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		r.err = fmt.Errorf("TLS handshake: taking over the socket: %w", err)
		return r
	}
	defer nc.Close() // the loop's fd keeps the socket open
	left := time.Duration(j.start + int64(p.c.o.ConnectTimeout) - p.c.now())
	_ = nc.SetDeadline(time.Now().Add(left))
	ctx := context.WithValue(p.ctx, certAskedKey{}, &r.certAsked)
	s, h, err := tlsrec.Client(nc, p.c.tls.cfgs[j.dest], tlsrec.Options{Context: ctx})
	r.took = p.c.now() - j.start
	if err != nil {
		r.err = err
		return r
	}
	r.s, r.pending, r.resumed = s, h.Pending, h.State.DidResume
	return r
}

// tlsLoop is one loop's TLS.
type tlsLoop struct {
	pool  *tlsPool
	conns []tlsConn        // by slot; valid while the slot is past its handshake
	in    map[int32][]byte // slot → the start of a record split across reads (ciphertext: l.partial holds plaintext)
	plain []byte           // Open's output
	out   []byte           // Seal's and CloseNotify's output

	mu    sync.Mutex
	done  []tlsResult // handed over by the pool, under mu
	taken []tlsResult // the loop's: done swapped out
	n     atomic.Int32
}

// tlsConn is one connection's TLS state on the loop: 248 bytes, no
// pointers.
type tlsConn struct {
	s         tlsrec.Session
	certAsked bool
}

func newTLSLoop(p *tlsPool, conns int) *tlsLoop {
	return &tlsLoop{pool: p, conns: make([]tlsConn, conns), in: map[int32][]byte{}, plain: make([]byte, 0, readBuf)}
}

// handOver queues r for its loop (any goroutine).
func (t *tlsLoop) handOver(r tlsResult) {
	t.mu.Lock()
	t.done = append(t.done, r)
	t.mu.Unlock()
	t.n.Add(1)
}

// tlsStart sends slot, whose TCP connect is over, to the handshake pool.
func (l *eloop) tlsStart(slot int32) {
	c := &l.conns[slot]
	g := l.global(slot)
	dup, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		l.closeFD(slot) // connecting: counted out
		l.failed(slot, g, classOf(err), "dup for the TLS handshake", err)
		return
	}
	c.state = stTLS
	l.tls.pool.submit(tlsJob{l: l, slot: slot, fd: c.fd, dup: dup, dest: l.c.plan.Dest(g), start: l.now})
}

// tlsHandshakes takes the handshakes the pool has ended since last time.
func (l *eloop) tlsHandshakes() {
	t := l.tls
	t.mu.Lock()
	t.done, t.taken = t.taken[:0], t.done
	t.n.Store(0)
	t.mu.Unlock()
	for i := range t.taken {
		l.tlsEnded(&t.taken[i])
		t.taken[i] = tlsResult{}
	}
}

// tlsEnded goes on with a connection whose handshake ended: it fails, or
// the protocol opens as after a plain connect.
func (l *eloop) tlsEnded(r *tlsResult) {
	c := &l.conns[r.slot]
	if c.state != stTLS || c.fd != r.fd { // closed meanwhile (the end of the run)
		return
	}
	g := l.global(r.slot)
	if r.err != nil {
		l.closeFD(r.slot)
		class := tlsrecClass(r.err)
		if class < 0 {
			class = tlsClass(r.err)
		}
		if class < 0 {
			class = clsTLSHandshake
		}
		l.failed(r.slot, g, class, "TLS handshake", r.err)
		return
	}
	l.inflight--
	l.k.connecting.Add(-1)
	series := latTLS
	if r.resumed {
		series = latTLSResumed
	}
	l.c.lat[series].Record(time.Duration(r.took))
	l.tls.conns[r.slot] = tlsConn{s: *r.s, certAsked: r.certAsked}
	l.rx = l.now
	if !l.open(r.slot) {
		return
	}
	if len(r.pending) > 0 && !l.tlsInput(r.slot, r.pending) {
		return
	}
	if handshaking(c.state) {
		l.schedule(r.slot, l.now+int64(l.c.stepTimeout(c)))
	}
	// The loop ignored the socket's edges during the handshake: read until
	// the kernel has nothing more, or the peer's close.
	l.readable(r.slot, unix.EPOLLIN|unix.EPOLLRDHUP)
}

// tlsInput opens the records in raw (after the start of a record kept from
// the last read), answers a KeyUpdate before anything else goes out, and
// hands the plaintext to the proto; false when the connection was closed.
func (l *eloop) tlsInput(slot int32, raw []byte) bool {
	t := l.tls
	data := raw
	if len(t.in) > 0 {
		if p, ok := t.in[slot]; ok {
			data = append(p, raw...)
			delete(t.in, slot)
		}
	}
	plain, used, reply, err := t.conns[slot].s.Open(t.plain[:0], data)
	t.plain = plain[:0]
	if len(reply) > 0 && !l.send(slot, reply) {
		return false
	}
	if len(plain) > 0 && l.c.o.Proto != ProtoRaw && !l.input(slot, plain) {
		return false
	}
	if err != nil {
		l.tlsGone(slot, err)
		return false
	}
	if used < len(data) {
		t.in[slot] = append([]byte(nil), data[used:]...)
	}
	return true
}

// tlsGone ends a connection whose session Open ended: close_notify is the
// server closing, as a FIN; anything else an error of its class.
func (l *eloop) tlsGone(slot int32, err error) {
	if l.tlsRefused(slot, err) {
		return
	}
	var a *tlsrec.AlertError
	if errors.As(err, &a) && a.Clean() {
		class, text := l.c.closedEarly(l.proto, l.exch(slot))
		l.peerGone(slot, dropServerClose, class, text, nil)
		return
	}
	l.peerGone(slot, dropError, tlsrecClass(err), "TLS", err)
}

// tlsRefused ends, as the server's refusal of the client certificate, a
// connection that the server closed (err) before it was held, after a
// handshake in which it asked for one: TLS 1.3 servers (nginx) refuse it
// after the client's handshake is over, often without an alert. False (and
// nothing done) otherwise.
func (l *eloop) tlsRefused(slot int32, err error) bool {
	if l.tls == nil || !l.tls.conns[slot].certAsked || !handshaking(l.conns[slot].state) {
		return false
	}
	l.peerGone(slot, dropError, clsTLSCertRefused, "closed by the server right after a TLS handshake in which it asked for a client certificate (refused, or none given)", err)
	return true
}

// seal is b sealed in slot's records, in a buffer reused by the next call.
func (t *tlsLoop) seal(slot int32, b []byte) []byte {
	t.out = t.conns[slot].s.Seal(t.out[:0], b)
	return t.out
}

// tlsCloseNotify sends close_notify on a connection past its handshake,
// when the socket takes it at once: nothing is queued before it and the
// close does not wait for it.
func (l *eloop) tlsCloseNotify(slot int32) {
	c := &l.conns[slot]
	if c.fd < 0 || !(handshaking(c.state) || c.state == stHeld) {
		return
	}
	if _, queued := l.outq[slot]; queued {
		return
	}
	t := l.tls
	t.out = t.conns[slot].s.CloseNotify(t.out[:0])
	if n, err := rawio.Write(int(c.fd), t.out); err == nil {
		l.k.bytesOut.Add(int64(n))
	}
}

// drop forgets slot's partial record (its connection closed).
func (t *tlsLoop) drop(slot int32) {
	if len(t.in) > 0 {
		delete(t.in, slot)
	}
}

// tlsrecClass is the error class of an error from tlsrec (a record, an
// alert, a handshake it cannot carry on), or -1 when err is not one. The
// alerts that refuse a client certificate count as that.
func tlsrecClass(err error) int {
	var a *tlsrec.AlertError
	if errors.As(err, &a) {
		switch a.Code {
		case 42, 43, 44, 45, 46, 48, 116: // as tlsClass
			return clsTLSCertRefused
		}
	}
	var e interface{ Class() string }
	if !errors.As(err, &e) {
		return -1
	}
	for i := clsTLSRec; i < clsTLSRec+nTLSRecClasses; i++ {
		if classNames[i] == e.Class() {
			return i
		}
	}
	return -1
}
