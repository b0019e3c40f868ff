//go:build linux

package loadclient

import (
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/rawio"
)

const (
	tickNS       = int64(time.Millisecond) // timer wheel resolution
	wheelBuckets = 4096
	readBuf      = 64 << 10
	maxEvents    = 1024
	msgBatch     = 4096 // most messages one loop iteration sends when behind
	epollFlags   = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
)

type epollEngine struct {
	c     *core
	loops []*eloop
	tls   *tlsPool // nil without TLS
}

func newEpollEngine(c *core) (engine, error) {
	n := c.o.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	n = max(1, min(n, c.shard.Count))
	e := &epollEngine{c: c}
	if c.tls.cfgs != nil {
		e.tls = newTLSPool(c)
	}
	frac := float64(c.shard.Count) / float64(max(c.plan.Conns, 1))
	for i := 0; i < n; i++ {
		l, err := newLoop(c, i, n, frac)
		if err != nil {
			for _, l := range e.loops {
				unix.Close(l.epfd)
				l.tick.close()
			}
			return nil, err
		}
		if e.tls != nil {
			l.tls = newTLSLoop(e.tls, len(l.conns))
		}
		e.loops = append(e.loops, l)
		c.loops = append(c.loops, l.k)
	}
	return e, nil
}

func (e *epollEngine) run() error {
	if e.tls != nil {
		e.tls.start()
		defer e.tls.stop()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(e.loops))
	for i, l := range e.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.run()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// eloop is one event loop: its own epoll instance, OS thread, connections
// (global indexes ≡ id mod nloops within the shard), timer wheel, pacers
// and buffers.
type eloop struct {
	c      *core
	k      *counters
	id     int
	nloops int
	epfd   int
	tick   *metronome
	conns  []conn
	nextUp int // next slot the ramp dials
	pacer  ConstantPacer
	clock  pauseClock

	inflight, maxInflight int
	logins                int

	msgPacer ConstantPacer
	msgN     int64
	msgStart int64 // ns since start; -1 before the hold
	churner  churner

	wheel  *wheel
	tickOf func(int32) uint32
	fire   func(int32)
	now    int64
	rtOff  int64 // the wall clock less now(), in ns: turns kernel timestamps into now() time
	rx     int64 // when the bytes being handled arrived at this host, in now() time
	stamp  rxStamp
	tcpi   unix.TCPInfo

	proto proto
	x     exch     // the one call into proto at a time
	tls   *tlsLoop // nil without TLS

	buf, out []byte
	events   []unix.EpollEvent
	ev       unix.EpollEvent
	linger   unix.Linger
	partial  map[int32][]byte // slot → bytes of a split frame
	outq     map[int32][]byte // slot → bytes the socket did not take, at most maxQueued
	// maxQueued bounds a connection's queued bytes: past it, a server that
	// does not read gets no more messages or PINGs (counted as unsent)
	// instead of the swarm's memory.
	maxQueued int
	dsts      []rawAddr
	srcs      []rawAddr
	family    int
	rnd       rng
}

func newLoop(c *core, id, n int, frac float64) (*eloop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	tick, err := newMetronome(time.Duration(c.phase))
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	count := (c.shard.Count - id + n - 1) / n
	l := &eloop{
		c: c, k: newCounters(len(c.plan.Dests), len(c.plan.Sources)), id: id, nloops: n, epfd: epfd, tick: tick,
		conns:       make([]conn, count),
		pacer:       ConstantPacer{Rate: c.o.Rate * frac / float64(n)},
		maxInflight: max(1, int(float64(c.o.MaxInflight)*frac)/n),
		msgPacer:    ConstantPacer{Rate: c.o.MsgRate * frac / float64(n)},
		msgStart:    -1,
		churner:     churner{rate: c.o.Churn.Rate * frac / float64(n), start: -1},
		buf:         make([]byte, readBuf),
		out:         make([]byte, 0, 256+c.o.Payload),
		events:      make([]unix.EpollEvent, maxEvents),
		partial:     map[int32][]byte{},
		maxQueued:   max(64<<10, 2*(64+c.o.Payload)),
		outq:        map[int32][]byte{},
		rnd:         rng(uint64(time.Now().UnixNano()) | 1 + uint64(id)<<32),
		proto:       newProto(c),
	}
	l.x = exch{c: c, k: l.k, ep: l, loop: c.shard.Index*n + id, rnd: &l.rnd}
	// 4096 buckets of 1ms: 4 s a turn, 96 KB; longer timers (heartbeats)
	// wait in their bucket for later turns.
	l.wheel = newWheel(wheelBuckets, 0)
	l.tickOf = func(s int32) uint32 { return l.conns[s].tick }
	l.fire = l.onTimer
	for _, d := range c.plan.Dests {
		l.dsts = append(l.dsts, newRawAddr(d.Addr(), int(d.Port())))
	}
	for _, s := range c.plan.Sources {
		l.srcs = append(l.srcs, newRawAddr(s, 0))
	}
	l.family = unix.AF_INET
	if c.plan.Dests[0].Addr().Is6() {
		l.family = unix.AF_INET6
	}
	for i := range l.conns {
		l.conns[i].fd = -1
	}
	return l, nil
}

// global is the plan's index of a slot's connection.
func (l *eloop) global(slot int32) int { return l.c.shard.First + l.id + int(slot)*l.nloops }

func (l *eloop) run() error {
	// Not locked to its thread: yielding (below) would then hand the
	// thread over every time.
	defer unix.Close(l.epfd)
	defer l.tick.close()
	c := l.c
	full := false
	n := 0
	for {
		l.now = c.now()
		l.rtOff = time.Now().UnixNano() - l.now
		if c.ctl.close.Load() {
			l.closeAll()
			l.k.done.Store(true)
			return nil
		}
		// What is due leaves first, at its planned instant; what arrived
		// meanwhile is read after: its arrival is the kernel's timestamp,
		// so reading it later changes no latency.
		if c.ctl.quiet.Load() { // quiet never ends: no message leaves this loop from here on
			l.k.quieted.Store(true)
		} else if l.msgPacer.Rate > 0 {
			l.messages()
		}
		l.churn()
		if l.tls != nil && l.tls.n.Load() > 0 {
			l.tlsHandshakes()
		}
		l.wheel.advance(uint32(l.now/tickNS), l.tickOf, l.fire)
		for i := 0; i < n; i++ {
			l.event(l.events[i].Fd, l.events[i].Events)
		}
		l.clock.set(c.ctl.paused.Load(), time.Duration(l.now))
		l.ramp()
		if l.nextUp == len(l.conns) && l.inflight == 0 && l.logins == 0 && !l.k.rampDone.Load() {
			l.k.rampDone.Store(true)
		}
		runtime.Gosched() // a busy loop does not park: let the rest of the process run first
		var err error
		n, err = l.wait(full)
		full = n == len(l.events)
		if err != nil && err != unix.EINTR {
			l.closeAll()
			l.k.done.Store(true)
			return err
		}
	}
}

// How a loop waits: it parks until the next point of its grid on the
// monotonic clock (metronome: every grid period, offset by the process's
// phase), then takes what is ready without blocking (at once again while
// the event buffer comes back full). Socket activity never wakes a shard:
// at a million connections a wake-up per handshake or pong, paid by the
// gateway that sent it, was most of the machine's context switches.
//
// The wait is in no latency: requests are planned on the grid, so a loop
// that keeps up sends them as planned, and answers are timed by the
// kernel's receive timestamp (rxStamp) and connects by the kernel's
// handshake round trip (TCP_INFO), not by when the loop read them. A loop
// that falls behind shows as lag, and its requests' latencies still count
// from the planned time.
func (l *eloop) wait(full bool) (int, error) {
	if !full {
		if err := l.tick.wait(l.c.grid); err != nil {
			return 0, err
		}
	}
	return epollPoll(l.epfd, l.events)
}

// ramp dials what the pacer has due while the window has room.
func (l *eloop) ramp() {
	if l.clock.paused || l.nextUp == len(l.conns) {
		return
	}
	due := l.pacer.Due(l.clock.elapsed(time.Duration(l.now)))
	if l.nextUp == 0 && due > 0 {
		l.k.rampStarted(l.now)
	}
	for l.nextUp < len(l.conns) && int64(l.nextUp) < due && !l.windowFull() {
		slot := int32(l.nextUp)
		l.nextUp++
		l.k.started.Add(1)
		l.dial(slot)
	}
	if l.nextUp < len(l.conns) && int64(l.nextUp) < due {
		l.k.rampWindow.Add(1)
	} else {
		l.k.rampPaced.Add(1)
	}
}

// windowFull tells whether maxInflight connections are connecting or
// logging in. Logins count: a gateway that falls behind completes
// handshakes in the kernel's accept queue long before it reads the LOGIN,
// so a window of connects alone let logins pile up until they timed out;
// with both, a slow gateway slows the ramp instead.
func (l *eloop) windowFull() bool { return l.inflight+l.logins >= l.maxInflight }

func (l *eloop) dial(slot int32) {
	c := &l.conns[slot]
	g := l.global(slot)
	p := l.c.plan
	l.k.attempts.Add(1)
	fd, err := rawSocket(l.family)
	if err != nil {
		l.failed(slot, g, classOf(err), "socket", err)
		return
	}
	if si := p.Source(g); si >= 0 {
		// Without NO_PORT, bind() would pick the port now, alone, and one
		// source IP would cap at one port range for all destinations.
		one := int32(1)
		_ = rawSetsockopt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, unsafe.Pointer(&one), 4)
		if err := rawBind(fd, l.srcs[si]); err != nil {
			rawClose(fd)
			l.failed(slot, g, classOf(err), "bind", err)
			return
		}
	}
	if l.c.o.Proto != ProtoRaw {
		if err := enableRxStamp(fd); err != nil {
			rawClose(fd)
			l.failed(slot, g, clsOther, "setsockopt SO_TIMESTAMPNS", err)
			return
		}
	}
	if err := rawConnect(fd, l.dsts[p.Dest(g)]); err != nil && err != unix.EINPROGRESS {
		rawClose(fd)
		l.failed(slot, g, classOf(err), "connect", err)
		return
	}
	l.ev = unix.EpollEvent{Events: epollFlags, Fd: slot}
	if err := rawEpollAdd(l.epfd, fd, &l.ev); err != nil {
		rawClose(fd)
		l.failed(slot, g, clsOther, "epoll_ctl", err)
		return
	}
	c.fd, c.state, c.t0 = int32(fd), stConnecting, l.c.now() // the ramp's span counts from the connect itself
	l.inflight++
	l.k.connecting.Add(1)
	l.schedule(slot, l.now+int64(l.c.o.ConnectTimeout))
}

// schedule files slot's timer at t (ns since start).
func (l *eloop) schedule(slot int32, t int64) {
	tick := uint32((t + tickNS - 1) / tickNS)
	if l.conns[slot].tick == tick {
		return
	}
	l.conns[slot].tick = l.wheel.file(slot, tick)
}

func (l *eloop) event(slot int32, ev uint32) {
	c := &l.conns[slot]
	switch c.state {
	case stConnecting:
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		l.connected(slot, ev)
	case stUpgrade, stLogin, stHeld:
		if ev&unix.EPOLLOUT != 0 && len(l.outq) > 0 {
			if !l.flush(slot) {
				return
			}
		}
		if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.readable(slot, ev)
		}
	}
}

func (l *eloop) connected(slot int32, ev uint32) {
	c := &l.conns[slot]
	g := l.global(slot)
	took, err := l.handshake(int(c.fd), c.t0)
	if err != nil {
		l.closeFD(slot) // counted out of connecting
		l.failed(slot, g, classOf(err), "connect", err)
		return
	}
	l.k.established.Add(1)
	l.c.lat[latConnect].Record(time.Duration(took))
	l.k.rampEstablished(c.t0 + took)
	if l.tls != nil { // connecting until its TLS handshake is over too
		l.tlsStart(slot)
		return
	}
	l.inflight--
	l.k.connecting.Add(-1)
	l.rx = c.t0 + took // what open handles arrived now: the SYN-ACK
	if !l.open(slot) {
		return
	}
	// The connect timeout's wheel entry, still filed, checks the login
	// timeout when it comes (and re-files for the rest): one entry per
	// connection during the ramp instead of two.
	if handshaking(c.state) && l.c.o.ConnectTimeout > l.c.stepTimeout(c) {
		l.schedule(slot, l.now+int64(l.c.stepTimeout(c)))
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.readable(slot, ev)
	}
}

// open starts the protocol on a connection whose connect (and TLS
// handshake) is over: its handshake (upgrade, LOGIN) counts in the window
// from here; a protocol without one (raw) is held at once. False when the
// connection was closed.
func (l *eloop) open(slot int32) bool {
	l.conns[slot].state = stLogin
	l.logins++
	l.k.loggingIn.Add(1)
	return l.proto.open(l.exch(slot))
}

// handshake is how a non-blocking connect begun at t0 ended: the time it
// took, or its error.
func (l *eloop) handshake(fd int, t0 int64) (int64, error) {
	if took, ok := l.handshakeTook(fd, t0); ok {
		return took, nil
	}
	if err := rawSoError(fd); err != nil {
		return 0, err
	}
	return l.now - t0, nil
}

// handshakeTook is, when the kernel has completed fd's handshake, the time
// it took from t0, by the kernel's clocks, not by when the loop looked.
// When the SYN was sent once, that is TCP_INFO's round trip (µs, from the
// SYN's own send time). After a retransmitted SYN the round trip is the
// last SYN's only; the handshake then ended when the SYN-ACK came, which
// TCP_INFO gives as the milliseconds since the last ACK received. In the
// swarm's protocols the client speaks first, so nothing has come since; a
// server that spoke first would make the time later, never earlier.
func (l *eloop) handshakeTook(fd int, t0 int64) (int64, bool) {
	if rawTCPInfo(fd, &l.tcpi) != nil {
		return 0, false
	}
	return tcpHandshakeTook(&l.tcpi, l.c.now()-t0)
}

// tcpHandshakeTook is handshakeTook from a connection's TCP_INFO ti, read
// since ns after its connect began.
func tcpHandshakeTook(ti *unix.TCPInfo, since int64) (int64, bool) {
	switch ti.State {
	case unix.BPF_TCP_ESTABLISHED, unix.BPF_TCP_CLOSE_WAIT:
	default:
		return 0, false
	}
	if ti.Total_retrans == 0 && ti.Rtt > 0 {
		return min(int64(ti.Rtt)*int64(time.Microsecond), since), true
	}
	return max(since-int64(ti.Last_ack_recv)*int64(time.Millisecond), 0), true
}

// exch is the loop's call into its proto, for slot.
func (l *eloop) exch(slot int32) *exch {
	x := &l.x
	x.slot, x.g, x.conn, x.rx, x.out = slot, l.global(slot), &l.conns[slot], l.rx, l.out
	return x
}

// held enters the held state (endpoint): counted, heartbeats scheduled.
func (l *eloop) held(slot int32) {
	c := &l.conns[slot]
	g := l.global(slot)
	if handshaking(c.state) {
		l.logins--
		l.k.loggingIn.Add(-1)
	}
	c.state, c.tries, c.tick = stHeld, 0, 0
	l.c.hold(l.k, g, 1)
	l.k.rampHeld(l.rx)
	if l.c.beats() {
		c.next = l.c.firstBeat(g, l.now)
		l.schedule(slot, l.c.onTick(l.c.beatPlanned(g, c.next)))
	}
}

// readable drains the socket, so unread data never sits in the kernel
// (≈ 4 KB per socket). A read that does not fill the buffer emptied the
// receive queue, and with edge-triggered epoll whatever arrives later
// raises a new event, so it need not be confirmed by a read that returns
// EAGAIN: that read was half of the swarm's reads, one per pong. When the
// peer has closed or reset (ev), reading goes on until it says so.
func (l *eloop) readable(slot int32, ev uint32) {
	hangup := ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	for {
		c := &l.conns[slot]
		if c.fd < 0 {
			return
		}
		var n int
		var err error
		if l.c.o.Proto != ProtoRaw {
			var at int64
			n, at, err = l.stamp.recv(int(c.fd), l.buf)
			l.rx = l.now
			if at > 0 {
				l.rx = at - l.rtOff
			}
		} else {
			n, err = rawio.Read(int(c.fd), l.buf)
		}
		switch {
		case n > 0:
			l.k.bytesIn.Add(int64(n))
			if l.tls != nil {
				if !l.tlsInput(slot, l.buf[:n]) {
					return
				}
			} else if l.c.o.Proto != ProtoRaw && !l.input(slot, l.buf[:n]) {
				return
			}
			if n < len(l.buf) && !hangup {
				return
			}
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
		case err == nil: // EOF
			if l.tlsRefused(slot, nil) {
				return
			}
			class, text := l.c.closedEarly(l.proto, l.exch(slot))
			l.peerGone(slot, dropServerClose, class, text, nil)
			return
		default:
			if !l.tlsRefused(slot, err) {
				l.peerGone(slot, dropReset, classOf(err), "read", err)
			}
			return
		}
	}
}

// input hands bytes to the proto, in front of what it left unused last
// time; false when the connection was closed.
func (l *eloop) input(slot int32, data []byte) bool {
	if len(l.partial) > 0 {
		if p, ok := l.partial[slot]; ok {
			data = append(p, data...)
			delete(l.partial, slot)
		}
	}
	c := &l.conns[slot]
	t0 := c.t0
	used, ok := l.proto.input(l.exch(slot), data)
	if ok && used < len(data) { // a split frame: keep its start until the rest comes
		l.partial[slot] = append([]byte(nil), data[used:]...)
	}
	// A handshake step began (a scenario's next step): its deadline may
	// come before the timer filed for the step before.
	if ok && c.t0 != t0 && handshaking(c.state) {
		if d := c.t0 + int64(l.c.stepTimeout(c)); uint32((d+tickNS-1)/tickNS) < c.tick {
			l.schedule(slot, d)
		}
	}
	return ok
}

// write sends b now (sealed in TLS records when TLS is on), queuing what
// the socket does not take; false when the connection was closed.
func (l *eloop) write(slot int32, b []byte) bool {
	l.k.framesOut.Add(1)
	if l.tls != nil {
		b = l.tls.seal(slot, b)
	}
	return l.send(slot, b)
}

// send writes b to slot's socket after what is queued, queuing what the
// socket does not take; false when the connection was closed.
func (l *eloop) send(slot int32, b []byte) bool {
	c := &l.conns[slot]
	if len(l.outq) > 0 {
		if q, ok := l.outq[slot]; ok {
			l.outq[slot] = append(q, b...)
			return true
		}
	}
	n, err := rawio.Write(int(c.fd), b)
	if err == unix.EAGAIN {
		n, err = 0, nil
	}
	if err != nil {
		l.peerGone(slot, dropReset, classOf(err), "write", err)
		return false
	}
	l.k.bytesOut.Add(int64(n))
	if n < len(b) {
		l.outq[slot] = append([]byte(nil), b[n:]...)
	}
	return true
}

// queueFull tells whether slot has maxQueued bytes or more waiting for its
// socket.
func (l *eloop) queueFull(slot int32) bool {
	if len(l.outq) == 0 {
		return false
	}
	q, ok := l.outq[slot]
	return ok && len(q) >= l.maxQueued
}

func (l *eloop) flush(slot int32) bool {
	q, ok := l.outq[slot]
	if !ok {
		return true
	}
	n, err := rawio.Write(int(l.conns[slot].fd), q)
	if err == unix.EAGAIN {
		return true
	}
	if err != nil {
		l.peerGone(slot, dropReset, classOf(err), "write", err)
		return false
	}
	l.k.bytesOut.Add(int64(n))
	if n == len(q) {
		delete(l.outq, slot)
	} else {
		l.outq[slot] = q[n:]
	}
	return true
}

// onTimer runs when a slot's tick comes: connect or login timeout,
// heartbeat, redial.
//
// A timeout is judged by when the answer reached this host, not by when
// the loop got round to it: a loop that has fallen behind (a saturated
// host) comes to a deadline late, with the answer possibly waiting in the
// kernel. Counting that as a timeout would blame the gateway for the
// swarm's own delay, and redialing it would add load to a host already
// behind.
func (l *eloop) onTimer(slot int32) {
	c := &l.conns[slot]
	c.tick = 0
	g := l.global(slot)
	switch c.state {
	case stConnecting:
		deadline := c.t0 + int64(l.c.o.ConnectTimeout)
		if l.now < deadline {
			l.schedule(slot, deadline)
			return
		}
		if took, ok := l.handshakeTook(int(c.fd), c.t0); ok && took <= int64(l.c.o.ConnectTimeout) {
			l.connected(slot, unix.EPOLLOUT)
			if c.fd >= 0 && handshaking(c.state) {
				l.schedule(slot, c.t0+int64(l.c.stepTimeout(c))) // this entry was the only one filed
			}
			return
		}
		l.inflight--
		l.k.connecting.Add(-1)
		c.state = stIdle
		l.closeFD(slot)
		l.failed(slot, g, clsConnectTimeout, "no answer to SYN within --connect-timeout "+l.c.o.ConnectTimeout.String(), nil)
	case stUpgrade, stLogin:
		deadline := c.t0 + int64(l.c.stepTimeout(c))
		if l.now < deadline {
			l.schedule(slot, deadline)
			return
		}
		// The answer's first bytes had arrived by the deadline: read them.
		// An answer split around the deadline (rare: one segment on
		// loopback) counts as in time if its rest is here too, and as a
		// timeout if not. One that began the handshake's next step (the
		// WebSocket 101, then LOGIN) gives that step its own deadline.
		if at := l.stamp.peek(int(c.fd)); at > 0 && at-l.rtOff <= deadline {
			t0 := c.t0
			l.readable(slot, unix.EPOLLIN)
			if c.fd < 0 || !handshaking(c.state) {
				return
			}
			if c.t0 != t0 {
				l.schedule(slot, c.t0+int64(l.c.stepTimeout(c)))
				return
			}
		}
		class, text := l.c.loginTimeout(l.proto, l.exch(slot))
		l.peerGone(slot, dropError, class, text, nil)
	case stHeld:
		planned := l.c.onTick(l.c.beatPlanned(g, c.next))
		if l.now < planned {
			l.schedule(slot, planned)
			return
		}
		lag := l.now - planned
		l.c.lat[latLag].Record(time.Duration(lag))
		if lag > l.k.maxLag.Load() {
			l.k.maxLag.Store(lag)
		}
		if l.queueFull(slot) {
			l.k.unsent.Add(1)
		} else {
			l.k.pings.Add(1)
			if !l.proto.beat(l.exch(slot), planned) {
				return
			}
		}
		c.next += int64(l.c.o.Heartbeat)
		l.schedule(slot, l.c.onTick(l.c.beatPlanned(g, c.next)))
	case stBackoff:
		if l.now < c.next {
			l.schedule(slot, c.next)
			return
		}
		if l.windowFull() || l.clock.paused {
			l.schedule(slot, l.now+10*tickNS)
			return
		}
		l.dial(slot)
	}
}

// messages sends the SENDs (raw: payloads) the message pacer has due, from
// random held connections to random uids of the swarm. A message is due at
// the point of the grid at or after its pacer time, and planned then: the
// wake-up that sends it.
func (l *eloop) messages() {
	c := l.c
	if c.ctl.quiet.Load() || len(l.conns) == 0 {
		return
	}
	if l.msgStart < 0 {
		if !l.k.rampDone.Load() {
			return
		}
		l.msgStart = l.c.lastTick(l.now)
	}
	due := l.msgPacer.Due(time.Duration(l.c.lastTick(l.now) - l.msgStart))
	for sent := 0; l.msgN < due && sent < msgBatch; sent++ {
		planned := l.c.onTick(l.msgStart + int64(l.msgPacer.Planned(l.msgN)))
		l.msgN++
		slot := int32(-1)
		for try := 0; try < 16; try++ {
			s := int32(l.rnd.next() % uint64(len(l.conns)))
			if l.conns[s].state == stHeld {
				slot = s
				break
			}
		}
		if slot < 0 {
			continue // nobody held to send from
		}
		if l.queueFull(slot) {
			l.k.unsent.Add(1)
			continue
		}
		lag := l.now - planned
		l.c.lat[latLag].Record(time.Duration(lag))
		if lag > l.k.maxLag.Load() {
			l.k.maxLag.Store(lag)
		}
		l.k.sent.Add(1)
		l.proto.send(l.exch(slot), planned)
	}
}

// failed counts a connect that did not become a connection, and redials
// later when --reconnect is on.
func (l *eloop) failed(slot int32, g int, class int, op string, err error) {
	l.c.fail(l.k, class, g, op, err)
	l.retry(slot)
}

// gone (endpoint) is peerGone.
func (l *eloop) gone(slot int32, cause, class int, op string, err error) {
	l.peerGone(slot, cause, class, op, err)
}

// peerGone ends a connection the server ended (or broke): before it was
// held an error of class, after it a drop of cause (and a protocol error
// or a WebSocket close code counted by class too).
func (l *eloop) peerGone(slot int32, cause, class int, op string, err error) {
	c := &l.conns[slot]
	g := l.global(slot)
	if c.state == stHeld {
		l.k.dropped.Add(1)
		l.k.drops[cause].Add(1)
		if cause == dropError && class == clsProtocol || countedWhenHeld(class) {
			l.c.fail(l.k, class, g, op, err)
		}
	} else {
		l.c.fail(l.k, class, g, op, err)
	}
	l.closeFD(slot)
	l.retry(slot)
}

func (l *eloop) retry(slot int32) {
	c := &l.conns[slot]
	if !l.c.o.Reconnect || l.c.ctl.quiet.Load() {
		c.state, c.tick = stClosed, 0
		return
	}
	c.state = stBackoff
	c.next = l.now + int64(l.c.o.Backoff.Delay(int(c.tries), l.rnd.next()))
	if c.tries < 255 {
		c.tries++
	}
	l.schedule(slot, c.next)
}

// closeFD closes a slot's socket and takes it out of the counts of its
// state. The caller sets the next state.
func (l *eloop) closeFD(slot int32) {
	c := &l.conns[slot]
	switch c.state {
	case stConnecting, stTLS:
		l.inflight--
		l.k.connecting.Add(-1)
	case stUpgrade, stLogin:
		l.logins--
		l.k.loggingIn.Add(-1)
	case stHeld:
		l.c.hold(l.k, l.global(slot), -1)
	}
	c.state = stIdle
	if c.pending > 0 {
		l.k.lost.Add(int64(c.pending))
		c.pending = 0
	}
	if c.fd >= 0 {
		if l.c.o.Close == CloseRST {
			l.linger = unix.Linger{Onoff: 1, Linger: 0}
			_ = rawSetsockopt(int(c.fd), unix.SOL_SOCKET, unix.SO_LINGER, unsafe.Pointer(&l.linger), unix.SizeofLinger)
		}
		rawClose(int(c.fd))
		c.fd = -1
	}
	c.tick = 0
	if len(l.partial) > 0 {
		delete(l.partial, slot)
	}
	if len(l.outq) > 0 {
		delete(l.outq, slot)
	}
	if l.tls != nil {
		l.tls.drop(slot)
	}
	l.proto.drop(slot)
}

// closeOwn closes a connection the swarm itself ends (the close, the
// churn): with a FIN, after what its protocol says on leaving (and TLS's
// close_notify).
func (l *eloop) closeOwn(slot int32) {
	if l.conns[slot].state == stHeld && l.c.o.Close == CloseFIN {
		l.proto.bye(l.exch(slot))
	}
	if l.tls != nil && l.c.o.Close == CloseFIN {
		l.tlsCloseNotify(slot)
	}
	if l.conns[slot].fd >= 0 { // the bye's write may have found it gone
		l.closeFD(slot)
	}
}

// closeAll closes every connection of the loop (FIN or RST).
func (l *eloop) closeAll() {
	for i := range l.conns {
		if l.conns[i].fd >= 0 {
			l.closeOwn(int32(i))
		}
		l.conns[i].state = stClosed
	}
	l.inflight, l.logins = 0, 0
}
