package loadclient

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imtool/imtool/refserver/wire"
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

type pconn struct {
	mu      sync.Mutex // serializes writes
	nc      net.Conn
	g       int
	held    atomic.Bool
	churned atomic.Bool // closed by the churn: our own close, redialed at once
	state   atomic.Int32
	pend    atomic.Int64
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
			closeConn(pc.nc, c.o.Close)
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
	for tries := 0; ; tries++ {
		held, churned := e.once(slot, g, sem)
		sem = nil
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
// held, churned that the churn closed it.
func (e *portableEngine) once(slot, g int, sem chan struct{}) (held, churned bool) {
	c, k := e.c, e.k
	// The window slot is held until LOGIN_OK (or the end of the attempt).
	release := func() {
		if sem != nil {
			<-sem
			sem = nil
		}
	}
	defer release()
	dst := c.plan.Dests[c.plan.Dest(g)]
	d := net.Dialer{Timeout: c.o.ConnectTimeout}
	if s := c.plan.Source(g); s >= 0 {
		d.LocalAddr = &net.TCPAddr{IP: c.plan.Sources[s].AsSlice()}
	}
	k.attempts.Add(1)
	k.connecting.Add(1)
	t0 := c.now()
	k.rampStarted(t0)
	nc, err := d.DialContext(e.ctx, "tcp", dst.String())
	k.connecting.Add(-1)
	if err != nil {
		if e.ctx.Err() == nil {
			c.fail(k, classOf(err), g, "connect", err)
		}
		return
	}
	k.established.Add(1)
	t1 := c.now()
	c.lat[latConnect].Record(time.Duration(t1 - t0))
	k.rampEstablished(t1)
	pc := &pconn{nc: nc, g: g}
	e.mu.Lock()
	if e.ctx.Err() != nil {
		e.mu.Unlock()
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
		k.lost.Add(pc.pend.Swap(0))
	}()
	if c.o.Proto == ProtoRaw {
		release()
		e.holdRaw(pc)
		return true, pc.churned.Load()
	}
	k.loggingIn.Add(1)
	loginStart := c.now()
	uid := c.uid(g)
	var token []byte
	if len(c.secret) > 0 {
		token = wire.Token(c.secret, uid)
	}
	_ = nc.SetReadDeadline(time.Now().Add(c.o.LoginTimeout))
	if !e.write(pc, wire.AppendLogin(nil, uid, token)) {
		k.loggingIn.Add(-1)
		c.fail(k, clsConnReset, g, "write LOGIN", nil)
		return
	}
	dec := wire.NewDecoder(wire.DefaultMaxFrame)
	buf := make([]byte, 4096)
	var hbStop chan struct{}
	defer func() {
		if hbStop != nil {
			close(hbStop)
		}
		if pc.held.Load() {
			c.hold(k, g, -1)
		}
	}()
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			k.bytesIn.Add(int64(n))
			dec.Feed(buf[:n])
			for {
				f, ok, derr := dec.Next()
				if derr != nil {
					e.gone(pc, dropError, clsProtocol, "bad frame from the server", derr)
					return
				}
				if !ok {
					break
				}
				k.framesIn.Add(1)
				now := c.now()
				nowUnix := int64(c.unix(now))
				switch f.Type {
				case wire.TypeLoginOK:
					if pc.held.Load() {
						e.gone(pc, dropError, clsProtocol, "LOGIN_OK twice", nil)
						return
					}
					k.loggingIn.Add(-1)
					release()
					c.lat[latLogin].Record(time.Duration(now - loginStart))
					_ = nc.SetReadDeadline(time.Time{})
					pc.held.Store(true)
					held = true
					c.hold(k, g, 1)
					if c.o.Heartbeat > 0 {
						hbStop = make(chan struct{})
						go e.heartbeats(pc, hbStop)
					}
				case wire.TypePong:
					k.pongs.Add(1)
					c.lat[latHeartbeat].Record(time.Duration(nowUnix - int64(f.TS)))
				case wire.TypeAck:
					k.acked.Add(1)
					k.acks[min(int(f.Status), nAcks-1)].Add(1)
					pc.pend.Add(-1)
					c.lat[latAck].Record(time.Duration(nowUnix - int64(msgPlanned(f.MsgID))))
				case wire.TypeDeliver:
					k.delivered.Add(1)
					c.lat[latDeliver].Record(time.Duration(nowUnix - int64(f.SentTS)))
				case wire.TypeError, wire.TypeKick:
					class, drop := classifyCode(f.Code, pc.held.Load())
					if f.Type == wire.TypeKick && drop == dropError {
						drop = dropKick
					}
					e.gone(pc, drop, class, frameText(&f), nil)
					return
				default:
					e.gone(pc, dropError, clsProtocol, "unexpected "+wire.TypeName(f.Type)+" from the server", nil)
					return
				}
			}
		}
		if err != nil {
			if e.ctx.Err() != nil || pc.churned.Load() {
				if !pc.held.Load() {
					k.loggingIn.Add(-1)
				}
				return pc.held.Load(), pc.churned.Load() // our own close
			}
			switch {
			case errors.Is(err, io.EOF):
				e.gone(pc, dropServerClose, clsConnReset, "closed by the server before LOGIN_OK", nil)
			case !pc.held.Load() && classOf(err) == clsConnectTimeout:
				e.gone(pc, dropError, clsLoginTimeout, "no LOGIN_OK within --login-timeout "+c.o.LoginTimeout.String(), nil)
			default:
				e.gone(pc, dropReset, classOf(err), "read", err)
			}
			return
		}
	}
}

// gone counts the end of a connection the server ended or broke.
func (e *portableEngine) gone(pc *pconn, cause, class int, op string, err error) {
	if pc.held.Load() {
		e.k.dropped.Add(1)
		e.k.drops[cause].Add(1)
		return
	}
	e.k.loggingIn.Add(-1)
	e.c.fail(e.k, class, pc.g, op, err)
}

func (e *portableEngine) holdRaw(pc *pconn) {
	k := e.k
	pc.held.Store(true)
	e.c.hold(k, pc.g, 1)
	defer e.c.hold(k, pc.g, -1)
	buf := make([]byte, 4096)
	for {
		n, err := pc.nc.Read(buf)
		k.bytesIn.Add(int64(n))
		if err != nil {
			if e.ctx.Err() != nil || pc.churned.Load() {
				return // our own close
			}
			cause := dropReset
			if errors.Is(err, io.EOF) {
				cause = dropServerClose
			}
			k.dropped.Add(1)
			k.drops[cause].Add(1)
			return
		}
	}
}

func (e *portableEngine) write(pc *pconn, b []byte) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	_ = pc.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	n, err := pc.nc.Write(b)
	e.k.bytesOut.Add(int64(n))
	e.k.framesOut.Add(1)
	return err == nil
}

// heartbeats PINGs at the connection's planned times until stop.
func (e *portableEngine) heartbeats(pc *pconn, stop chan struct{}) {
	c, k := e.c, e.k
	base := c.firstBeat(pc.g, c.now())
	for {
		planned := c.beatPlanned(pc.g, base)
		if wait := planned - c.now(); wait > 0 {
			t := time.NewTimer(time.Duration(wait))
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		lag := c.now() - planned
		c.lat[latLag].Record(time.Duration(lag))
		if lag > k.maxLag.Load() {
			k.maxLag.Store(lag)
		}
		k.pings.Add(1)
		if !e.write(pc, wire.AppendPing(nil, c.unix(planned))) {
			return
		}
		base += int64(c.o.Heartbeat)
	}
}

// messages sends SENDs at the message rate from random held connections,
// once the ramp is over.
func (e *portableEngine) messages() {
	defer e.wg.Done()
	c, k := e.c, e.k
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
			if pc.held.Load() {
				held = append(held, pc)
			}
			if len(held) == cap(held) {
				break
			}
		}
		e.mu.Unlock()
		for ; n < due; n++ {
			planned := start + int64(pacer.Planned(n))
			if len(held) == 0 {
				continue
			}
			pc := held[r.next()%uint64(len(held))]
			lag := c.now() - planned
			c.lat[latLag].Record(time.Duration(lag))
			k.sent.Add(1)
			if c.o.Proto == ProtoRaw {
				e.write(pc, c.payload)
				continue
			}
			ts := c.unix(planned)
			to := c.uid(int(r.next() % uint64(c.plan.Conns)))
			pc.pend.Add(1)
			if !e.write(pc, wire.AppendSend(nil, msgID(ts, c.shard.Index), to, ts, c.payload)) {
				pc.pend.Add(-1)
				k.lost.Add(1)
			}
		}
	}
}
