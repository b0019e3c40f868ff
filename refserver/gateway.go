package refserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/imtool/imtool/internal/evio"
	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/wire"
)

// Gateway is the reference IM gateway: one evio Serve over many ports.
type Gateway struct {
	opts  Options
	start time.Time
	wall  int64 // start as Unix ns: loginClock's origin
	reg   registry
	link  *dispatcherLink // nil without a dispatcher

	ready    chan struct{}
	addrs    []net.Addr
	ports    []atomic.Int64 // open connections per listening address
	shutting atomic.Bool    // refusing new connections, ERROR 9 sent
	stop     atomic.Bool    // evio loops should end now
	done     chan struct{}

	loops []loopState // per evio loop, by index

	backlogMu sync.Mutex
	backlog   map[*session]struct{} // sessions whose socket buffer was full

	sessionSeq  atomic.Uint64
	conns       atomic.Int64
	sessions    atomic.Int64
	framesIn    atomic.Int64
	framesOut   atomic.Int64
	bytesIn     atomic.Int64
	bytesOut    atomic.Int64
	kicks       atomic.Int64
	slowClients atomic.Int64
	rejected    atomic.Int64
	errs        [wire.CodeServerFull + 1]atomic.Int64 // ERRORs sent, by code

	wsBadUpgrades atomic.Int64 // WebSocket upgrade requests refused (HTTP 4xx)
}

// NewGateway checks opts and prepares a gateway; Serve runs it.
func NewGateway(opts Options) (*Gateway, error) {
	if runtime.GOOS == "windows" {
		return nil, errors.New("the reference gateway runs on Linux (and BSD/macOS): evio has no event loop on Windows")
	}
	limit, err := fdLimit()
	if err != nil {
		return nil, err
	}
	if err := opts.setDefaults(limit); err != nil {
		return nil, err
	}
	g := &Gateway{
		opts:    opts,
		start:   time.Now(),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		ports:   make([]atomic.Int64, len(opts.Ports)+len(opts.WSPorts)),
		backlog: map[*session]struct{}{},
	}
	g.wall = g.start.UnixNano()
	if opts.Dispatcher != "" {
		g.link = newDispatcherLink(g)
	}
	return g, nil
}

// Serve listens on every port and serves until Shutdown. It returns an
// error when a port cannot be listened on.
func (g *Gateway) Serve() error {
	defer close(g.done)
	ports := g.listenPorts()
	addrs := make([]string, len(ports))
	for i, p := range ports {
		addrs[i] = "tcp4://" + net.JoinHostPort(g.opts.Listen, strconv.Itoa(int(p)))
		if g.opts.ReusePort {
			addrs[i] += "?reuseport=true"
		}
	}
	stopTimers := make(chan struct{})
	defer close(stopTimers)
	ev := evio.Events{
		NumLoops:    g.opts.Loops,
		LoadBalance: evio.LeastConnections,
		Serving: func(s evio.Server) evio.Action {
			g.addrs = s.Addrs
			close(g.ready)
			go g.timers(stopTimers)
			if g.link != nil {
				go g.link.run()
			}
			return evio.None
		},
		Opened: g.opened,
		Data:   g.data,
		Closed: g.closed,
		Tick:   g.tick,
	}
	if g.link != nil {
		ev.Batched = g.batched
	}
	if ev.NumLoops <= 0 {
		ev.NumLoops = defaultLoops()
	}
	g.loops = make([]loopState, ev.NumLoops)
	for i := range g.loops {
		g.loops[i].noted = map[*session]struct{}{}
	}
	err := evio.Serve(ev, addrs...)
	if g.link != nil {
		g.link.close()
	}
	if err != nil {
		fix := "check --listen, --ports and --ws-ports"
		if errors.Is(err, syscall.EADDRINUSE) {
			// --procs shares ports among this gateway's own shards only: it is no fix here.
			port := strconv.Itoa(int(ports[0]))
			var op *net.OpError
			if errors.As(err, &op) && op.Addr != nil {
				_, port, _ = net.SplitHostPort(op.Addr.String())
			}
			fix = fmt.Sprintf("another process listens there (ss -ltnp 'sport = :%s' names it): stop it, or choose other --ports", port)
		}
		return fmt.Errorf("cannot listen on %s ports %s: %w: %s", g.opts.Listen, portspec.String(ports), err, fix)
	}
	return nil
}

// Ready is closed once the gateway listens.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Done is closed when Serve has returned.
func (g *Gateway) Done() <-chan struct{} { return g.done }

// Addrs are the listening addresses, valid after Ready.
func (g *Gateway) Addrs() []net.Addr { return g.addrs }

// Shutdown sends ERROR 9 to every session, waits up to grace for them to
// close, then stops. It is idempotent.
func (g *Gateway) Shutdown(grace time.Duration) {
	if g.shutting.Swap(true) {
		<-g.done
		return
	}
	g.opts.Logf("gateway %s: shutting down, %d sessions told", g.opts.GatewayID, g.conns.Load())
	g.reg.each(func(s *session) {
		g.sendError(s, wire.CodeShuttingDown, "server shutting down")
		s.conn.Wake()
	})
	deadline := time.Now().Add(grace)
	for g.conns.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	g.stop.Store(true)
	<-g.done
}

func (g *Gateway) now() int64 { return int64(time.Since(g.start)) }

// loginClock is the time a login is stamped with: Unix ns, by the
// monotonic clock since start, so it never steps back. Gateways compare
// these stamps (through the dispatcher) to find a uid's newest login.
func (g *Gateway) loginClock() int64 { return g.wall + g.now() }

func (g *Gateway) opened(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
	opts.ReuseInputBuffer = true
	if g.shutting.Load() {
		g.errs[wire.CodeShuttingDown].Add(1)
		return g.refusal(c, wire.CodeShuttingDown, "server shutting down"), opts, evio.Close
	}
	if g.conns.Load() >= int64(g.opts.MaxConns) {
		g.rejected.Add(1)
		g.errs[wire.CodeServerFull].Add(1)
		return g.refusal(c, wire.CodeServerFull, "server full"), opts, evio.Close
	}
	s := &session{conn: c, fd: int32(evio.FD(c)), port: uint16(c.AddrIndex()), loop: uint16(evio.Loop(c)), ws: g.wsState(c.AddrIndex())}
	s.seen.Store(g.now())
	c.SetContext(s)
	g.reg.add(s)
	g.conns.Add(1)
	g.ports[s.port].Add(1)
	return nil, opts, evio.None
}

func (g *Gateway) data(c evio.Conn, in []byte) (out []byte, action evio.Action) {
	s, ok := c.Context().(*session)
	if !ok {
		return nil, evio.Close // refused in opened; evio still delivers its data
	}
	if in != nil && s.ws != wsNone {
		in = g.wsInput(s, in)
	}
	if len(in) > 0 {
		g.input(s, in)
	}
	g.push(int(s.loop), s)
	if g.drain(int(s.loop), s) {
		return nil, evio.Close
	}
	return nil, evio.None
}

func (g *Gateway) closed(c evio.Conn, _ error) evio.Action {
	s, ok := c.Context().(*session)
	if !ok {
		return evio.None
	}
	// evio has closed the fd: nothing may write it (or lingerClose it) again.
	s.mu.Lock()
	s.dead, s.shut = true, true
	var lost []pendingAck
	if s.bufs != nil {
		lost, s.bufs = s.bufs.acks, nil
	}
	s.mu.Unlock()
	g.reg.remove(s)
	g.conns.Add(-1)
	g.ports[s.port].Add(-1)
	if uid, in := s.loggedIn(); in {
		g.sessions.Add(-1)
		if sid, held := g.reg.release(uid, s); held && g.link != nil {
			g.link.offline(uid, sid)
		}
	}
	g.backlogMu.Lock()
	delete(g.backlog, s)
	g.backlogMu.Unlock()
	g.answer(int(s.loop), lost, wire.AckOffline)
	g.drain(int(s.loop), nil)
	return evio.None
}

// tick runs on evio's first loop; it only ends the loops on shutdown.
func (g *Gateway) tick() (time.Duration, evio.Action) {
	if g.stop.Load() {
		return 0, evio.Shutdown
	}
	return 250 * time.Millisecond, evio.None
}

// input decodes and handles every whole frame in the session's input.
func (g *Gateway) input(s *session, in []byte) {
	g.bytesIn.Add(int64(len(in)))
	s.mu.Lock()
	buf := in
	if s.bufs != nil && len(s.bufs.in) > 0 {
		s.bufs.in = append(s.bufs.in, in...)
		buf = s.bufs.in
	}
	s.mu.Unlock()
	used, stopped, err := wire.Frames(buf, g.opts.MaxFrame, func(f wire.Frame) bool {
		g.framesIn.Add(1)
		// A whole frame refreshes the idle timer; bytes of an unfinished
		// one do not. Before login, seen stays the open time.
		if s.state == stateLoggedIn {
			s.seen.Store(g.now())
		}
		return g.handle(s, &f)
	})
	switch {
	case err != nil:
		g.protocolError(s, err)
		buf = nil
	case stopped:
		buf = nil
	default:
		buf = buf[used:]
	}
	s.mu.Lock()
	if len(buf) > 0 {
		b := s.buffers()
		b.in = append(b.in[:0], buf...) // evio reuses in: keep our own copy
	} else if s.bufs != nil {
		s.bufs.in = nil
		s.trimBuffers()
	}
	s.mu.Unlock()
}

func (g *Gateway) protocolError(s *session, err error) {
	code := wire.CodeBadFrame
	var we *wire.Error
	if errors.As(err, &we) {
		code = we.Code
	}
	g.sendError(s, code, err.Error())
}

// sendError queues ERROR code and closes the session after it.
func (g *Gateway) sendError(s *session, code uint16, reason string) {
	g.errs[code].Add(1)
	s.finish(g, func(b []byte) []byte { return wire.AppendError(b, code, reason) })
}

// flush writes s's queued output, on s's loop (on), and answers the
// DELIVERs it wrote. It reports whether the connection should now close
// (a socket error, a slow client, or a finished session). A client is slow,
// and cut off, when its socket has taken nothing for slowAfter or a DELIVER
// has waited that long to be written: each DELIVER is thus answered within
// slowAfter, well inside the dispatcher route timeout.
func (g *Gateway) flush(on int, s *session) bool {
	var doneBuf [8]pendingAck
	done := doneBuf[:0]
	var lost []pendingAck
	s.mu.Lock()
	for s.bufs != nil && len(s.bufs.out) > 0 && !s.dead {
		b := s.bufs
		n, again, err := writeFD(int(s.fd), b.out)
		if n > 0 {
			g.bytesOut.Add(int64(n))
			var frames int
			frames, done = b.wrote(n, done)
			g.framesOut.Add(int64(frames))
			b.stuck = 0
		}
		if err != nil {
			s.dead = true
			lost, s.bufs = b.acks, nil
			break
		}
		if again {
			now := g.now()
			if b.stuck == 0 {
				b.stuck = now
			}
			if now-b.stuck >= int64(slowAfter) || (len(b.acks) > 0 && now-b.acks[0].queued >= int64(slowAfter)) {
				lost = s.cutOff(g)
				break
			}
			s.mu.Unlock()
			g.backlogMu.Lock()
			g.backlog[s] = struct{}{}
			g.backlogMu.Unlock()
			g.answer(on, done, wire.AckDelivered)
			return false
		}
	}
	if s.bufs != nil && len(s.bufs.out) == 0 {
		s.bufs.out = nil
		s.trimBuffers()
	}
	closing, dead := s.closing, s.dead
	shut := (closing || dead) && !s.shut
	s.shut = s.shut || shut
	s.mu.Unlock()
	if shut {
		// Our side ends after what the kernel holds for the peer (even a
		// full buffer: the socket turns writable, so evio acts on the close).
		lingerClose(int(s.fd))
	}
	g.answer(on, done, wire.AckDelivered)
	g.answer(on, lost, wire.AckOffline)
	return closing || dead
}

// timers sweeps for login and idle timeouts and re-wakes connections whose
// socket buffer was full, until stop is closed.
func (g *Gateway) timers(stop <-chan struct{}) {
	// A timeout is enforced within a quarter of itself. Sweeping more often
	// than that costs: a sweep visits every session, and every second it
	// was 2.4% of a two-core machine holding a million.
	sweepEvery := max(min(g.opts.LoginTimeout, g.opts.IdleTimeout)/4, 20*time.Millisecond)
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	nextSweep := time.Now().Add(sweepEvery)
	for {
		select {
		case <-stop:
			return
		case <-retry.C:
		}
		g.backlogMu.Lock()
		for s := range g.backlog {
			s.conn.Wake()
			delete(g.backlog, s)
		}
		g.backlogMu.Unlock()
		if time.Now().After(nextSweep) {
			g.sweep()
			nextSweep = time.Now().Add(sweepEvery)
		}
	}
}

func (g *Gateway) sweep() {
	now := g.now()
	login, idle := int64(g.opts.LoginTimeout), int64(g.opts.IdleTimeout)
	g.reg.each(func(s *session) {
		s.mu.Lock()
		var code uint16
		switch {
		case s.closing || s.dead:
		case s.state == stateNew && now-s.seen.Load() >= login:
			code = wire.CodeLoginTimeout
		case s.state == stateLoggedIn && now-s.seen.Load() >= idle:
			code = wire.CodeIdleTimeout
		}
		s.mu.Unlock()
		if code != 0 {
			g.sendError(s, code, wire.CodeName(code))
			s.conn.Wake()
		}
	})
}

// Snapshot returns the gateway's counters now.
func (g *Gateway) Snapshot() stats.Snapshot {
	s := stats.Snapshot{
		Kind:        stats.KindGateway,
		ID:          g.opts.GatewayID,
		Time:        time.Now(),
		UptimeS:     time.Since(g.start).Seconds(),
		Process:     stats.ReadProcess(),
		Connections: g.conns.Load(),
		Sessions:    g.sessions.Load(),
		FramesIn:    g.framesIn.Load(),
		FramesOut:   g.framesOut.Load(),
		BytesIn:     g.bytesIn.Load(),
		BytesOut:    g.bytesOut.Load(),
		Kicks:       g.kicks.Load(),
		SlowClients: g.slowClients.Load(),
		Rejected:    g.rejected.Load(),
		Errors:      map[string]int64{},
		Ports:       map[string]int64{},
		Dispatcher:  "none",
	}
	for code := range g.errs {
		if n := g.errs[code].Load(); n > 0 {
			s.Errors[wire.CodeName(uint16(code))] = n
		}
	}
	listening := false
	select {
	case <-g.ready:
		listening = true
	default:
	}
	if n := g.wsBadUpgrades.Load(); n > 0 {
		s.Errors["ws_bad_upgrade"] = n
	}
	ports := g.listenPorts()
	for i := range g.ports {
		port := int(ports[i])
		if listening {
			if a, ok := g.addrs[i].(*net.TCPAddr); ok {
				port = a.Port
			}
		}
		s.Ports[strconv.Itoa(port)] = g.ports[i].Load()
	}
	if g.link != nil {
		s.Dispatcher = g.link.state()
	}
	return s
}

// Run serves until ctx ends, then shuts down gracefully (ERROR 9 to every
// session, up to grace for them to close).
func (g *Gateway) Run(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- g.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		g.Shutdown(grace)
		return <-errc
	}
}

// defaultLoops is one event loop per P but one. A loop waits in epoll_wait
// without giving up its P, so whatever else needs a P — another loop, the
// dispatcher link's reader, timers, /stats — waits for the runtime to
// preempt the loop (10 ms and more) unless a P is left over. A gateway
// shard runs its loops with one P more (ClusterOptions), for its link.
func defaultLoops() int { return max(1, runtime.GOMAXPROCS(0)-1) }
