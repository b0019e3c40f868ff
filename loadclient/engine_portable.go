package loadclient

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// portableEngine dials with net.Dialer and runs a goroutine per connection:
// it works on every OS Go supports, at several times the memory and a
// fraction of the connect rate of the epoll engine. Use it where epoll is
// missing (macOS, Windows) or to compare.
type portableEngine struct {
	c     *core
	k     *counters
	count int
	frac  float64

	mu    sync.Mutex
	conns map[int]*pconn // slot → open connection
	wg    sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
}

// pconn is one connection of the portable engine. Its proto runs under mu:
// the reading goroutine, its heartbeats and the message sender take turns.
type pconn struct {
	e         *portableEngine
	nc        net.Conn
	tcp       net.Conn  // nc's TCP connection (nc itself, or under TLS)
	deadline  time.Time // the handshake step's deadline, while one is under way
	g         int
	sem       chan struct{} // the --max-inflight window slot, until held or the end of the attempt
	isHeld    atomic.Bool
	churned   atomic.Bool // closed by the churn: our own close, redialed at once
	certAsked bool        // the server asked for a client certificate in the TLS handshake

	// hb fires the next heartbeat (nil until held, or without heartbeats);
	// hbBase is that heartbeat's base time. Both under mu.
	hb     *time.Timer
	hbBase int64

	mu    sync.Mutex
	conn  conn
	proto proto
	x     exch
	rnd   rng
}

func newPortableEngine(c *core) (engine, error) {
	e := &portableEngine{c: c, k: newCounters(len(c.plan.Dests), len(c.plan.Sources)), count: c.shard.Count,
		frac: float64(c.shard.Count) / float64(max(c.plan.Conns, 1)), conns: map[int]*pconn{}}
	c.loops = []*counters{e.k}
	e.ctx, e.stop = context.WithCancel(context.Background())
	return e, nil
}

func (e *portableEngine) run() error {
	c := e.c
	sem := make(chan struct{}, max(1, int(float64(c.o.MaxInflight)*e.frac)))
	pacer := ConstantPacer{Rate: c.o.Rate * e.frac}
	var clock pauseClock
	done := make(chan struct{})
	go func() { // watch for the close
		for !c.ctl.close.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		e.stop()
		e.mu.Lock()
		for _, pc := range e.conns {
			pc.closeOwn(c.o.Close)
		}
		e.mu.Unlock()
		close(done)
	}()
	if c.o.MsgRate > 0 {
		e.wg.Add(1)
		go e.messages()
	}
	if c.o.Churn.Rate > 0 {
		e.wg.Add(1)
		go e.churn()
	}
	for slot := 0; slot < e.count; {
		now := c.now()
		clock.set(c.ctl.paused.Load(), time.Duration(now))
		if e.ctx.Err() != nil {
			break
		}
		if clock.paused || int64(slot) >= pacer.Due(clock.elapsed(time.Duration(now))) {
			time.Sleep(time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-e.ctx.Done():
			continue
		}
		e.k.started.Add(1)
		// Connecting from now, not from when its goroutine first runs:
		// the ramp is not over while a first attempt waits to be scheduled.
		e.k.connecting.Add(1)
		e.wg.Add(1)
		go e.serve(slot, sem)
		slot++
	}
	go func() { // the ramp is over when every first attempt has settled
		for e.ctx.Err() == nil && (e.k.connecting.Load() > 0 || e.k.loggingIn.Load() > 0 || e.k.started.Load() < int64(e.count)) {
			time.Sleep(5 * time.Millisecond)
		}
		e.k.rampDone.Store(true)
	}()
	<-done
	e.wg.Wait()
	e.k.rampDone.Store(true)
	e.k.done.Store(true)
	return nil
}

func closeConn(nc net.Conn, mode string) {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok { // TLS: the socket under it
		nc = tc.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok && mode == CloseRST {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// serve runs connection slot for the whole run, redialing with backoff when
// --reconnect is on.
func (e *portableEngine) serve(slot int, sem chan struct{}) {
	defer e.wg.Done()
	c := e.c
	g := c.shard.First + slot
	r := rng(uint64(g)*0x9E3779B97F4A7C15 | 1)
	first := true // run counted it as connecting
	for tries := 0; ; tries++ {
		held, churned := e.once(slot, g, sem, first)
		sem, first = nil, false
		if held {
			tries = 0 // the backoff starts over after a connection that was held
		}
		if churned && e.ctx.Err() == nil { // redialed at once, as churn is
			tries = -1
			continue
		}
		if !c.o.Reconnect || c.ctl.quiet.Load() || e.ctx.Err() != nil {
			return
		}
		select {
		case <-time.After(c.o.Backoff.Delay(tries, r.next())):
		case <-e.ctx.Done():
			return
		}
		for c.ctl.paused.Load() && e.ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// once is one attempt of connection slot, until it ends; held says it was
// held, churned that the churn closed it. first: the ramp's attempt, which
// run counted as connecting already.
func (e *portableEngine) once(slot, g int, sem chan struct{}, first bool) (held, churned bool) {
	c, k := e.c, e.k
	pc := &pconn{e: e, g: g, sem: sem, rnd: rng(uint64(g)*0xBF58476D1CE4E5B9 | 1)}
	defer pc.release()
	k.attempts.Add(1)
	if !first {
		k.connecting.Add(1)
	}
	t0 := c.now()
	k.rampStarted(t0)
	nc, took, class, err := e.dial(g)
	if err != nil {
		k.connecting.Add(-1)
		if e.ctx.Err() == nil {
			c.fail(k, class, g, "connect", err)
		}
		return
	}
	stampConn(nc)
	k.established.Add(1)
	t1 := c.now()
	c.lat[latConnect].Record(took)
	k.rampEstablished(t0 + int64(took))
	raw := nc
	if c.tls.cfgs != nil {
		tc, resumed, err := c.tlsHandshake(e.ctx, nc, c.plan.Dest(g), &pc.certAsked)
		if err != nil {
			k.connecting.Add(-1)
			_ = nc.Close()
			if e.ctx.Err() == nil {
				class := tlsClass(err)
				if class < 0 {
					class = clsTLSHandshake
				}
				c.fail(k, class, g, "TLS handshake", err)
			}
			return
		}
		series := latTLS
		if resumed {
			series = latTLSResumed
		}
		c.lat[series].Record(time.Duration(c.now() - t1))
		nc = tc
	}
	// Connecting until the TLS handshake is over, and logging in before
	// no longer connecting: the ramp is not done while either is under way,
	// nor between the two.
	pc.conn.state = stLogin // the handshake, if the protocol has one, counts from here
	k.loggingIn.Add(1)
	k.connecting.Add(-1)
	pc.nc, pc.tcp = nc, raw
	e.mu.Lock()
	if e.ctx.Err() != nil {
		e.mu.Unlock()
		k.loggingIn.Add(-1)
		closeConn(nc, c.o.Close)
		return
	}
	e.conns[slot] = pc
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, slot)
		e.mu.Unlock()
		_ = nc.Close()
		pc.mu.Lock()
		if pc.proto != nil {
			pc.proto.drop(0) // what it kept (MQTT: publishes in flight, counted unacknowledged)
		}
		if handshaking(pc.conn.state) {
			k.loggingIn.Add(-1)
		}
		k.lost.Add(int64(pc.conn.pending))
		pc.conn.pending, pc.conn.state = 0, stClosed
		if pc.hb != nil {
			pc.hb.Stop() // a beat already under way finds the connection closed
		}
		pc.mu.Unlock()
		if pc.isHeld.Load() {
			c.hold(k, g, -1)
		}
	}()
	pc.proto = newProto(c)
	pc.x = exch{c: c, k: k, ep: pc, g: g, conn: &pc.conn, loop: c.shard.Index, rnd: &pc.rnd, out: make([]byte, 0, 256+c.o.Payload)}
	pc.mu.Lock()
	pc.x.rx = c.now()
	ok := pc.proto.open(&pc.x)
	if ok && handshaking(pc.conn.state) {
		pc.setDeadline()
	}
	pc.mu.Unlock()
	if !ok {
		return
	}
	pc.read()
	return pc.isHeld.Load(), pc.churned.Load()
}

// errNoSYNACK is a connect that had no answer within --connect-timeout.
var errNoSYNACK = errors.New("no answer to SYN within --connect-timeout")

// dial connects connection g and says how long its handshake took. The
// --connect-timeout is judged by the kernel's clocks: at the deadline, a
// connect whose SYN-ACK came in time (TCP_INFO) goes on however late this
// process is; one still unanswered is cancelled, a connect_timeout.
func (e *portableEngine) dial(g int) (net.Conn, time.Duration, int, error) {
	c := e.c
	var d net.Dialer
	if s := c.plan.Source(g); s >= 0 {
		d.LocalAddr = &net.TCPAddr{IP: c.plan.Sources[s].AsSlice()}
	}
	var mu sync.Mutex
	var sock syscall.RawConn
	d.ControlContext = func(_ context.Context, _, _ string, rc syscall.RawConn) error {
		mu.Lock()
		sock = rc
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	start := time.Now()
	var late atomic.Bool
	timer := time.AfterFunc(c.o.ConnectTimeout, func() {
		mu.Lock()
		rc := sock
		mu.Unlock()
		if rc != nil {
			if took, ok := rawConnectTook(rc, start); ok && took <= c.o.ConnectTimeout {
				return
			}
		}
		late.Store(true)
		cancel()
	})
	nc, err := d.DialContext(ctx, "tcp", c.plan.Dests[c.plan.Dest(g)].String())
	timer.Stop()
	if err != nil {
		if late.Load() {
			return nil, 0, clsConnectTimeout, errNoSYNACK
		}
		return nil, 0, classOf(err), err
	}
	took := time.Since(start)
	if kt, ok := connectTook(nc, start); ok {
		took = kt
	}
	return nc, took, 0, nil
}

// portableReadBuf is the read buffer of a portable engine's connection.
const portableReadBuf = 512

// read feeds the proto until the connection ends.
func (pc *pconn) read() {
	e, c := pc.e, pc.e.c
	// Small: the buffer lives as long as the connection; a larger read
	// only takes more turns (rest keeps what the proto has not used).
	buf := make([]byte, portableReadBuf)
	var rest []byte // bytes the proto has not used yet
	for {
		n, err := pc.nc.Read(buf)
		if n > 0 {
			e.k.bytesIn.Add(int64(n))
			rest = append(rest, buf[:n]...)
			pc.mu.Lock()
			pc.x.rx = c.now()
			t0 := pc.conn.t0
			used, ok := pc.proto.input(&pc.x, rest)
			if ok && handshaking(pc.conn.state) && pc.conn.t0 != t0 {
				// The handshake's next step (LOGIN after the 101, SUBSCRIBE
				// after the CONNACK) left: it has --login-timeout of its own.
				pc.setDeadline()
			}
			pc.mu.Unlock()
			if !ok {
				return
			}
			rest = rest[:copy(rest, rest[used:])]
		}
		if err != nil {
			if e.ctx.Err() != nil || pc.churned.Load() {
				return // our own close
			}
			pc.mu.Lock()
			state := pc.conn.state
			if handshaking(state) && classOf(err) == clsConnectTimeout && pc.answeredInTime() {
				// A late goroutine: the answer came before the deadline.
				_ = pc.nc.SetReadDeadline(time.Now().Add(c.stepTimeout(&pc.conn)))
				pc.mu.Unlock()
				continue
			}
			switch {
			case pc.certAsked && handshaking(state) && (errors.Is(err, io.EOF) || classOf(err) == clsConnReset):
				pc.gone(0, dropError, clsTLSCertRefused, "closed by the server right after a TLS handshake in which it asked for a client certificate (refused, or none given)", err)
			case errors.Is(err, io.EOF):
				class, text := c.closedEarly(pc.proto, &pc.x)
				pc.gone(0, dropServerClose, class, text, nil)
			case handshaking(state) && classOf(err) == clsConnectTimeout:
				class, text := c.loginTimeout(pc.proto, &pc.x)
				pc.gone(0, dropError, class, text, nil)
			case tlsClass(err) >= 0:
				pc.gone(0, dropError, tlsClass(err), "TLS", err)
			default:
				pc.gone(0, dropReset, classOf(err), "read", err)
			}
			pc.mu.Unlock()
			return
		}
	}
}

// closeOwn closes a connection the swarm itself ends (the close, the
// churn): with a FIN, after what its protocol says on leaving.
func (pc *pconn) closeOwn(mode string) {
	pc.mu.Lock()
	if pc.conn.state == stHeld && mode == CloseFIN { // held: its proto is set
		pc.proto.bye(&pc.x)
	}
	pc.mu.Unlock()
	closeConn(pc.nc, mode)
}

func (pc *pconn) release() {
	if pc.sem != nil {
		<-pc.sem
		pc.sem = nil
	}
}

// setDeadline gives the handshake step under way its timeout, from now;
// called with mu held.
func (pc *pconn) setDeadline() {
	pc.deadline = time.Now().Add(pc.e.c.stepTimeout(&pc.conn))
	_ = pc.nc.SetReadDeadline(pc.deadline)
}

// answeredInTime tells whether what waits unread on the connection
// arrived by the step's deadline (by the kernel's clock): a read deadline
// that fired while the goroutine was late is then no timeout.
func (pc *pconn) answeredInTime() bool {
	at, ok := firstArrival(pc.tcp)
	return ok && !at.After(pc.deadline)
}

// write (endpoint) sends b; called with mu held.
func (pc *pconn) write(_ int32, b []byte) bool {
	k := pc.e.k
	_ = pc.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	n, err := pc.nc.Write(b)
	k.bytesOut.Add(int64(n))
	k.framesOut.Add(1)
	return err == nil
}

// held (endpoint) makes the connection held; called with mu held, from
// the reading goroutine.
func (pc *pconn) held(int32) {
	e, c, k := pc.e, pc.e.c, pc.e.k
	if handshaking(pc.conn.state) {
		k.loggingIn.Add(-1)
	}
	pc.conn.state = stHeld
	pc.release()
	_ = pc.nc.SetReadDeadline(time.Time{})
	pc.isHeld.Store(true)
	c.hold(k, pc.g, 1)
	k.rampHeld(pc.x.rx)
	if c.beats() {
		pc.hbBase = c.firstBeat(pc.g, c.now())
		pc.hb = time.AfterFunc(pc.untilBeat(), func() { e.beat(pc) })
	}
}

// gone (endpoint) counts the end of a connection the server ended or
// broke; called with mu held. The reading goroutine then returns and closes it.
func (pc *pconn) gone(_ int32, cause, class int, op string, err error) {
	k := pc.e.k
	state := pc.conn.state
	pc.conn.state = stClosed
	if handshaking(state) {
		k.loggingIn.Add(-1)
	}
	if state == stHeld {
		k.dropped.Add(1)
		k.drops[cause].Add(1)
		if cause == dropError && class == clsProtocol || countedWhenHeld(class) {
			pc.e.c.fail(k, class, pc.g, op, err)
		}
		return
	}
	pc.e.c.fail(k, class, pc.g, op, err)
}

// untilBeat is the wait until the connection's next planned heartbeat;
// called with mu held.
func (pc *pconn) untilBeat() time.Duration {
	c := pc.e.c
	return time.Duration(c.onTick(c.beatPlanned(pc.g, pc.hbBase)) - c.now())
}

// beat sends the connection's heartbeat when its timer fires and sets the
// timer for the next one, until the connection ends. A timer, not a
// goroutine per connection: a held connection's heartbeats cost no stack
// between beats.
func (e *portableEngine) beat(pc *pconn) {
	c, k := e.c, e.k
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.conn.state != stHeld {
		return
	}
	planned := c.onTick(c.beatPlanned(pc.g, pc.hbBase))
	if wait := planned - c.now(); wait > 0 { // the timer fired early
		pc.hb.Reset(time.Duration(wait))
		return
	}
	lag := c.now() - planned
	c.lat[latLag].Record(time.Duration(lag))
	if lag > k.maxLag.Load() {
		k.maxLag.Store(lag)
	}
	k.pings.Add(1)
	if !pc.proto.beat(&pc.x, planned) {
		return
	}
	pc.hbBase += int64(c.o.Heartbeat)
	pc.hb.Reset(pc.untilBeat())
}

// messages sends SENDs at the message rate from random held connections,
// once the ramp is over.
func (e *portableEngine) messages() {
	defer e.wg.Done()
	c, k := e.c, e.k
	defer k.quieted.Store(true) // no message is sent after this returns
	for !k.rampDone.Load() {
		if e.ctx.Err() != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	pacer := ConstantPacer{Rate: c.o.MsgRate * e.frac}
	start := c.now()
	r := rng(uint64(time.Now().UnixNano()) | 1)
	var n int64
	held := make([]*pconn, 0, 1024)
	for e.ctx.Err() == nil && !c.ctl.quiet.Load() {
		due := pacer.Due(time.Duration(c.now() - start))
		if n >= due {
			time.Sleep(time.Millisecond)
			continue
		}
		held = held[:0]
		e.mu.Lock()
		for _, pc := range e.conns {
			if pc.isHeld.Load() {
				held = append(held, pc)
			}
			if len(held) == cap(held) {
				break
			}
		}
		e.mu.Unlock()
		for ; n < due && !c.ctl.quiet.Load(); n++ {
			planned := start + int64(pacer.Planned(n))
			if len(held) == 0 {
				continue
			}
			pc := held[r.next()%uint64(len(held))]
			lag := c.now() - planned
			c.lat[latLag].Record(time.Duration(lag))
			pc.mu.Lock()
			if pc.conn.state == stHeld {
				k.sent.Add(1)
				pc.proto.send(&pc.x, planned)
			}
			pc.mu.Unlock()
		}
	}
}
