package refserver

import (
	"bufio"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imtool/imtool/internal/wire"
)

// Link timing: heartbeats every linkBeat; a link silent for linkDead is
// down; redials back off exponentially with jitter up to redialMax.
const (
	linkBeat     = 500 * time.Millisecond
	linkDead     = 2 * time.Second
	redialMin    = 100 * time.Millisecond
	redialMax    = 2 * time.Second
	routeTimeout = 3 * time.Second
	batchEvery   = 5 * time.Millisecond
)

// dispatcherLink is a gateway's connection to the dispatcher: it registers,
// resyncs its sessions after every (re)connect, streams online/offline
// changes, routes SENDs for users not held locally and receives routes,
// broadcasts and kicks from the other gateways.
type dispatcherLink struct {
	g     *Gateway
	epoch uint64
	up    atomic.Bool // live, for state()
	quit  chan struct{}
	once  sync.Once

	mu       sync.Mutex
	conn     net.Conn
	live     bool          // the link is up: routes, results and broadcasts may be queued
	gen      uint32        // counts links: a RESULT goes only on the link its ROUTE came on
	changes  []change      // online/offline changes not yet sent, in order
	w        *linkOut      // the current link's frames for the dispatcher
	batchDue chan struct{} // the first change of a batch: send in batchEvery
	slot     uint32
	recent   []lateResult // results of routes from others, of the last routeTimeout, oldest first

	routesMu sync.Mutex
	reqSeq   uint64
	routes   map[uint64]pendingRoute
}

// change is a login (online) or a logout of session sid of uid.
type change struct {
	login
	online bool
}

// lateResult is a RESULT this gateway sent (or could not send) for a route
// from another gateway, kept for routeTimeout: a dispatcher that dies may
// take it along, so it goes again, as LATE, on every new link.
type lateResult struct {
	epoch, req uint64
	status     uint8
	at         int64 // gateway ns
}

type pendingRoute struct {
	s        *session
	msgID    uint64
	deadline time.Time
}

func newDispatcherLink(g *Gateway) *dispatcherLink {
	return &dispatcherLink{
		g:        g,
		epoch:    uint64(time.Now().UnixNano()),
		quit:     make(chan struct{}),
		batchDue: make(chan struct{}, 1),
		routes:   map[uint64]pendingRoute{},
	}
}

func (l *dispatcherLink) state() string {
	if l.up.Load() {
		return "up"
	}
	return "down"
}

func (l *dispatcherLink) close() {
	l.once.Do(func() {
		close(l.quit)
		l.mu.Lock()
		if l.conn != nil {
			l.conn.Close()
		}
		l.mu.Unlock()
	})
}

// run dials and serves the link until close, redialing with jittered
// exponential backoff.
func (l *dispatcherLink) run() {
	backoff := redialMin
	go l.expireRoutes()
	for {
		start := time.Now()
		err := l.session()
		l.down()
		select {
		case <-l.quit:
			return
		default:
		}
		if time.Since(start) > 5*time.Second {
			backoff = redialMin // it was up for a while: start over
		}
		if err != nil {
			l.g.opts.Logf("gateway %s: dispatcher %s: %v; redialing in ≤%v", l.g.opts.GatewayID, l.g.opts.Dispatcher, err, backoff)
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-l.quit:
			return
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, redialMax)
	}
}

// session runs one connection to the dispatcher until it fails.
func (l *dispatcherLink) session() error {
	c, err := net.DialTimeout("tcp", l.g.opts.Dispatcher, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	bw := bufio.NewWriterSize(c, 64<<10)
	bw.Write(appendLinkHello(nil, l.epoch, l.g.opts.GatewayID))
	if err := bw.Flush(); err != nil {
		return err
	}
	r := newLinkReader(c)
	c.SetReadDeadline(time.Now().Add(linkDead))
	f, err := r.next()
	if err != nil {
		return err
	}
	if f.typ != linkWelcome {
		return errLinkFrame
	}
	w, err := newLinkOut(c)
	if err != nil {
		return err
	}
	// Resync: the dispatcher forgets a gateway whose link dropped, so send
	// the whole session list each time. Changes from now on are batched.
	// Nothing queued for an earlier link is sent on this one.
	l.mu.Lock()
	l.conn, l.slot, l.w = c, f.origin, w
	l.changes = l.changes[:0]
	l.gen++
	gen := l.gen
	l.mu.Unlock()
	logins := l.g.reg.logins()
	for {
		n := min(len(logins), uidsPerChunk)
		bw.Write(appendLinkLogins(nil, linkSync, n == len(logins), logins[:n]))
		if logins = logins[n:]; len(logins) == 0 {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	l.mu.Lock()
	l.live = true
	l.trimRecent()
	for r := l.recent; len(r) > 0; {
		n := min(len(r), uidsPerChunk)
		w.add(func(b []byte) []byte { return appendLinkLate(b, r[:n]) })
		r = r[n:]
	}
	l.mu.Unlock()
	w.push()
	l.up.Store(true)
	l.g.opts.Logf("gateway %s: dispatcher link up", l.g.opts.GatewayID)
	errc := make(chan error, 2)
	done := make(chan struct{})
	defer close(done)
	go func() { errc <- l.writer(w, done) }()
	go func() { errc <- l.reader(c, r, gen) }()
	err = <-errc
	c.Close()
	return err
}

// writer sends batched changes, heartbeats and the frames the socket did not
// take when they were queued (linkOut). It sleeps until there is something
// to send or a heartbeat is due, so an idle gateway's link costs two
// wake-ups a second, not one per batch.
func (l *dispatcherLink) writer(w *linkOut, done <-chan struct{}) error {
	beat := time.NewTicker(linkBeat)
	defer beat.Stop()
	lastBeat := time.Now()
	for {
		select {
		case <-done:
			return nil
		case <-l.quit:
			return nil
		case <-beat.C:
		case <-l.batchDue:
			time.Sleep(batchEvery) // let the burst this change belongs to gather
		case <-w.kick:
		}
		l.mu.Lock()
		if len(l.changes) > 0 {
			w.add(func(b []byte) []byte { return appendChanges(b, l.changes) })
			l.changes = l.changes[:0]
		}
		l.mu.Unlock()
		if time.Since(lastBeat) >= linkBeat {
			w.add(func(b []byte) []byte { return appendLinkEmpty(b, linkPing) })
			lastBeat = time.Now()
		}
		if err := w.flush(); err != nil {
			return err
		}
	}
}

// down ends the current link: nothing queued for it is sent on the next.
// The SENDs it was routing wait for their RESULT, which the holder sends
// again (LATE) on its next link, or are answered 2 at their deadline: so a
// dispatcher that dies with a route delivered does not make it answered 2.
func (l *dispatcherLink) down() {
	l.mu.Lock()
	l.live, l.w = false, nil
	l.mu.Unlock()
	l.up.Store(false)
}

func (l *dispatcherLink) reader(c net.Conn, r *linkReader, gen uint32) error {
	last := time.Now()
	for {
		c.SetReadDeadline(time.Now().Add(linkDead))
		f, err := r.next()
		if err != nil {
			return err
		}
		if err := checkGap(&last); err != nil {
			return err
		}
		switch f.typ {
		case linkRoute:
			l.g.deliverRoute(gen, &f)
		case linkResult:
			l.complete(f.req, f.status)
		case linkBroadcast:
			l.g.deliverAll(-1, f.msgID, f.from, f.sentTS, f.payload)
		case linkKick:
			l.g.kickSession(f.uid, f.sid)
		case linkPing:
			l.queue(func(b []byte) []byte { return appendLinkEmpty(b, linkPong) })
		case linkPong:
		default:
			return errLinkFrame
		}
	}
}

// queue sends a frame on the current link, if one is up.
func (l *dispatcherLink) queue(build func([]byte) []byte) {
	l.mu.Lock()
	w := l.w
	l.mu.Unlock()
	if w != nil {
		w.send(build)
	}
}

func (l *dispatcherLink) online(uid, sid uint64, at int64) {
	l.change(change{login{uid, sid, at}, true})
}
func (l *dispatcherLink) offline(uid, sid uint64) { l.change(change{login{uid, sid, 0}, false}) }

func (l *dispatcherLink) change(c change) {
	l.mu.Lock()
	first := len(l.changes) == 0
	l.changes = append(l.changes, c)
	l.mu.Unlock()
	if first {
		select {
		case l.batchDue <- struct{}{}:
		default:
		}
	}
}

// appendChanges appends changes in order, each run of one kind as one frame.
func appendChanges(dst []byte, changes []change) []byte {
	var run []login
	for i, c := range changes {
		run = append(run, c.login)
		if i == len(changes)-1 || changes[i+1].online != c.online || len(run) == uidsPerChunk {
			typ := linkOffline
			if c.online {
				typ = linkOnline
			}
			dst = appendLinkLogins(dst, typ, false, run)
			run = run[:0]
		}
	}
	return dst
}

// route asks the dispatcher to deliver a SEND; false when the link is down
// (the caller answers ACK 2 at once).
// The route is registered while the link is up and its frame goes on that
// link: if the link goes down meanwhile, the route is answered by the
// holder's LATE result on the next link or 2 at its deadline, as any route
// of a link that went down.
func (l *dispatcherLink) route(on int, s *session, msgID, from, to, sentTS uint64, payload []byte) bool {
	l.mu.Lock()
	if !l.live {
		l.mu.Unlock()
		return false
	}
	w := l.w
	l.routesMu.Lock()
	l.reqSeq++
	req := l.reqSeq
	l.routes[req] = pendingRoute{s: s, msgID: msgID, deadline: time.Now().Add(routeTimeout)}
	l.routesMu.Unlock()
	l.mu.Unlock()
	l.sendOn(on, w, func(b []byte) []byte { return appendLinkRoute(b, 0, 0, req, msgID, from, to, sentTS, payload) })
	return true
}

// sendOn sends a frame on link w. From evio loop on (on >= 0) it is added
// and goes out when the loop's batch ends (Gateway.batched); from anywhere
// else (on is -1) at once.
func (l *dispatcherLink) sendOn(on int, w *linkOut, build func([]byte) []byte) {
	if on < 0 {
		w.send(build)
		return
	}
	w.add(build)
	p := &l.g.loops[on]
	if p.link != w {
		if p.link != nil {
			p.link.push() // an earlier link's: it goes (or fails) now
		}
		p.link = w
	}
}

// result answers a route of origin gateway epoch that came on link gen:
// on that link if it is still up (slots are a dispatcher's own), and as
// LATE on every next link within routeTimeout. on is the evio loop the
// caller runs on (-1: none).
func (l *dispatcherLink) result(on int, gen, origin uint32, epoch, req uint64, status uint8) {
	l.mu.Lock()
	l.recent = append(l.recent, lateResult{epoch, req, status, l.g.now()})
	if !l.live || gen != l.gen {
		l.mu.Unlock()
		return
	}
	w := l.w
	l.mu.Unlock()
	l.sendOn(on, w, func(b []byte) []byte { return appendLinkResult(b, origin, req, status) })
}

// trimRecent forgets results older than routeTimeout: their origins have
// answered by then. Call with mu held.
func (l *dispatcherLink) trimRecent() {
	old := l.g.now() - int64(routeTimeout)
	i := 0
	for i < len(l.recent) && l.recent[i].at < old {
		i++
	}
	if i > 0 {
		l.recent = l.recent[:copy(l.recent, l.recent[i:])]
	}
}

func (l *dispatcherLink) broadcast(msgID, from, sentTS uint64, payload []byte) {
	l.mu.Lock()
	w := l.w
	if !l.live {
		w = nil
	}
	l.mu.Unlock()
	if w != nil {
		w.send(func(b []byte) []byte { return appendLinkBroadcast(b, 0, msgID, from, sentTS, payload) })
	}
}

func (l *dispatcherLink) complete(req uint64, status uint8) {
	l.routesMu.Lock()
	p, ok := l.routes[req]
	delete(l.routes, req)
	l.routesMu.Unlock()
	if ok {
		l.answer(p, status)
	}
}

// expireRoutes answers routes the dispatcher never answered with ACK 2.
func (l *dispatcherLink) expireRoutes() {
	t := time.NewTicker(routeTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case now := <-t.C:
			var late []pendingRoute
			l.routesMu.Lock()
			for req, p := range l.routes {
				if now.After(p.deadline) {
					late = append(late, p)
					delete(l.routes, req)
				}
			}
			l.routesMu.Unlock()
			for _, p := range late {
				l.answer(p, wire.AckRouteUnavailable)
			}
			l.mu.Lock()
			l.trimRecent()
			l.mu.Unlock()
		}
	}
}

// answer sends the ACK of a routed SEND to its sender.
func (l *dispatcherLink) answer(p pendingRoute, status uint8) {
	l.g.ack(p.s, p.msgID, status)
	l.g.push(-1, p.s)
}
