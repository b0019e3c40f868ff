package refserver

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/wire"
)

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	Listen string // e.g. 127.0.0.1:7000
	Logf   func(format string, args ...any)
}

// Dispatcher routes messages, broadcasts and kicks between gateways.
type Dispatcher struct {
	opts  DispatcherOptions
	ln    net.Listener
	start time.Time

	mu       sync.Mutex
	nextSlot uint32
	bySlot   map[uint32]*gwConn
	byID     map[string]*gwConn
	owner    map[uint64]route        // uid → the login holding it
	late     map[uint64][]heldResult // origin epoch → LATE results for a gateway not (yet) registered

	framesIn, framesOut atomic.Int64
	offline             atomic.Int64 // routes to uids no gateway holds
	wg                  sync.WaitGroup
	closed              atomic.Bool
}

// rebuildGrace is how long a dispatcher that just started takes for its
// routes to be complete: a gateway whose link dropped redials within
// redialMax, and its SYNC follows. Until then a uid it does not know may be
// on a gateway not back yet, so a SEND to it is answered 2, not 1.
const rebuildGrace = redialMax + linkDead

// heldResult is a LATE result kept for an origin that has not registered
// yet (it registers within routeTimeout, or its SENDs were answered 2).
type heldResult struct {
	req    uint64
	status uint8
	at     time.Time
}

// route is the login that holds a uid: the gateway (slot), its session id
// there and its login time, which orders it against other logins of the uid.
type route struct {
	slot uint32
	sid  uint64
	at   int64
}

// gwConn is one registered gateway.
type gwConn struct {
	slot     uint32
	id       string
	epoch    uint64
	c        net.Conn
	sessions int64 // uids it holds; under Dispatcher.mu
	synced   bool  // its last SYNC chunk came; under Dispatcher.mu

	w    *linkOut
	done chan struct{}
}

// NewDispatcher listens on opts.Listen.
func NewDispatcher(opts DispatcherOptions) (*Dispatcher, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("dispatcher cannot listen on %s: %w (is another dispatcher running? choose --listen)", opts.Listen, err)
	}
	return &Dispatcher{
		opts: opts, ln: ln, start: time.Now(), nextSlot: 1,
		bySlot: map[uint32]*gwConn{}, byID: map[string]*gwConn{}, owner: map[uint64]route{}, late: map[uint64][]heldResult{},
	}, nil
}

// Addr is the address gateways dial.
func (d *Dispatcher) Addr() string { return d.ln.Addr().String() }

// Serve accepts gateway links until Close.
func (d *Dispatcher) Serve() error {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			if d.closed.Load() {
				return nil
			}
			return fmt.Errorf("dispatcher accept: %w", err)
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.serveLink(c)
		}()
	}
}

// Close stops accepting and drops every link.
func (d *Dispatcher) Close() {
	if d.closed.Swap(true) {
		return
	}
	d.ln.Close()
	d.mu.Lock()
	for _, g := range d.bySlot {
		g.c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *Dispatcher) serveLink(c net.Conn) {
	defer c.Close()
	r := newLinkReader(c)
	c.SetReadDeadline(time.Now().Add(linkDead))
	f, err := r.next()
	if err != nil || f.typ != linkHello {
		return
	}
	w, err := newLinkOut(c)
	if err != nil {
		d.opts.Logf("dispatcher: gateway %s: %v", f.id, err)
		return
	}
	g := d.register(c, w, f.id, f.epoch)
	defer d.unregister(g)
	go d.writer(g)
	var ob outbox
	d.queue(&ob, g, func(b []byte) []byte { return appendLinkWelcome(b, g.slot) })
	d.mu.Lock()
	held := d.late[g.epoch]
	delete(d.late, g.epoch)
	d.mu.Unlock()
	for _, r := range held {
		if time.Since(r.at) < routeTimeout {
			d.queue(&ob, g, func(b []byte) []byte { return appendLinkResult(b, 0, r.req, r.status) })
		}
	}
	ob.push()
	last := time.Now()
	for {
		c.SetReadDeadline(time.Now().Add(linkDead))
		f, err := r.next()
		if err == nil {
			err = checkGap(&last)
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.opts.Logf("dispatcher: gateway %s link closed: %v", g.id, err)
			}
			return
		}
		d.framesIn.Add(1)
		d.handle(g, &f, &ob)
		if r.buffered() == 0 {
			ob.push() // before waiting for more: what came together leaves together
		}
	}
}

// register adds a gateway; one with the same id (a restart: a new epoch)
// replaces the old registration.
func (d *Dispatcher) register(c net.Conn, w *linkOut, id string, epoch uint64) *gwConn {
	g := &gwConn{id: id, epoch: epoch, c: c, w: w, done: make(chan struct{})}
	d.mu.Lock()
	g.slot = d.nextSlot
	d.nextSlot++
	old := d.byID[id]
	d.byID[id] = g
	d.bySlot[g.slot] = g
	d.mu.Unlock()
	if old != nil {
		d.opts.Logf("dispatcher: gateway %s re-registered (epoch %d replaces %d)", id, epoch, old.epoch)
		old.c.Close()
		d.dropRoutes(old)
	}
	d.opts.Logf("dispatcher: gateway %s registered (slot %d)", id, g.slot)
	return g
}

func (d *Dispatcher) unregister(g *gwConn) {
	close(g.done)
	d.mu.Lock()
	delete(d.bySlot, g.slot)
	if d.byID[g.id] == g {
		delete(d.byID, g.id)
	}
	d.mu.Unlock()
	d.dropRoutes(g)
}

// dropRoutes forgets every uid held by g.
func (d *Dispatcher) dropRoutes(g *gwConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if g.sessions == 0 {
		return
	}
	for uid, r := range d.owner {
		if r.slot == g.slot {
			delete(d.owner, uid)
		}
	}
	g.sessions = 0
}

// rebuilding says whether the routes may be incomplete: the dispatcher
// started less than rebuildGrace ago, or a gateway has not finished its
// SYNC. Call with mu held.
func (d *Dispatcher) rebuilding() bool {
	if time.Since(d.start) < rebuildGrace {
		return true
	}
	for _, g := range d.bySlot {
		if !g.synced {
			return true
		}
	}
	return false
}

// handle acts on frame f from gateway g; the frames it queues are pushed
// with ob.
func (d *Dispatcher) handle(g *gwConn, f *linkFrame, ob *outbox) {
	d.mu.Lock()
	current := d.bySlot[g.slot] == g
	d.mu.Unlock()
	if !current {
		return // a replaced registration: its frames are stale
	}
	switch f.typ {
	case linkSync, linkOnline:
		var kicks []kickTo
		d.mu.Lock()
		eachLogin(f.entries, func(l login) {
			if k, ok := d.claim(g, l); ok {
				kicks = append(kicks, k)
			}
		})
		if f.typ == linkSync && f.last {
			g.synced = true
		}
		d.mu.Unlock()
		for _, k := range kicks {
			d.queue(ob, k.g, func(b []byte) []byte { return appendLinkKick(b, k.uid, k.sid) })
		}
	case linkOffline:
		d.mu.Lock()
		eachSession(f.entries, func(uid, sid uint64) {
			if r, ok := d.owner[uid]; ok && r.slot == g.slot && r.sid == sid {
				delete(d.owner, uid)
				g.sessions--
			}
		})
		d.mu.Unlock()
	case linkRoute:
		d.mu.Lock()
		r, known := d.owner[f.to]
		t := d.bySlot[r.slot]
		status := wire.AckOffline
		if !known && d.rebuilding() {
			status = wire.AckRouteUnavailable
		}
		d.mu.Unlock()
		if !known || t == nil {
			d.offline.Add(1)
			d.queue(ob, g, func(b []byte) []byte { return appendLinkResult(b, 0, f.req, status) })
			return
		}
		d.queue(ob, t, func(b []byte) []byte {
			return appendLinkRoute(b, g.slot, g.epoch, f.req, f.msgID, f.from, f.to, f.sentTS, f.payload)
		})
	case linkResult:
		d.mu.Lock()
		o := d.bySlot[f.origin]
		d.mu.Unlock()
		if o != nil { // an origin that is gone answers its own SENDs with ACK 2
			d.queue(ob, o, func(b []byte) []byte { return appendLinkResult(b, 0, f.req, f.status) })
		}
	case linkLate:
		// Results the holder sent on a link that died, perhaps with a
		// dispatcher: each goes to its origin, found by its epoch (slots
		// are this dispatcher's own); an origin that answered already
		// ignores it.
		// An origin not registered yet gets them when it registers.
		d.mu.Lock()
		byEpoch := make(map[uint64]*gwConn, len(d.bySlot))
		for _, o := range d.bySlot {
			byEpoch[o.epoch] = o
		}
		now := time.Now()
		eachLate(f.entries, func(epoch, req uint64, status uint8) {
			if o := byEpoch[epoch]; o != nil {
				d.queue(ob, o, func(b []byte) []byte { return appendLinkResult(b, 0, req, status) })
			} else {
				d.late[epoch] = append(d.late[epoch], heldResult{req, status, now})
			}
		})
		for epoch, held := range d.late { // forget those of origins that never came back
			if n := len(held); n > 0 && time.Since(held[n-1].at) > routeTimeout {
				delete(d.late, epoch)
			}
		}
		d.mu.Unlock()
	case linkBroadcast:
		d.mu.Lock()
		others := make([]*gwConn, 0, len(d.bySlot))
		for _, o := range d.bySlot {
			if o != g {
				others = append(others, o)
			}
		}
		d.mu.Unlock()
		for _, o := range others {
			d.queue(ob, o, func(b []byte) []byte { return appendLinkBroadcast(b, g.slot, f.msgID, f.from, f.sentTS, f.payload) })
		}
	case linkPing:
		d.queue(ob, g, func(b []byte) []byte { return appendLinkEmpty(b, linkPong) })
	}
}

type kickTo struct {
	g        *gwConn
	uid, sid uint64
}

// claim records login l of gateway g. The newest login of a uid (by login
// time; on a tie, the one reported last) holds its route; the other one is
// to be kicked, which claim returns. Call with mu held.
func (d *Dispatcher) claim(g *gwConn, l login) (kickTo, bool) {
	cur, had := d.owner[l.uid]
	switch {
	case !had:
		g.sessions++
	case cur.slot == g.slot:
		// A newer login on the same gateway, which kicked the older itself.
	case l.at < cur.at:
		return kickTo{g, l.uid, l.sid}, true // it lost to a newer login elsewhere
	default:
		g.sessions++
		o := d.bySlot[cur.slot]
		if o == nil {
			break
		}
		o.sessions--
		if o.id != g.id { // not an older link of the same gateway
			d.owner[l.uid] = route{g.slot, l.sid, l.at}
			return kickTo{o, l.uid, cur.sid}, true
		}
	}
	d.owner[l.uid] = route{g.slot, l.sid, l.at}
	return kickTo{}, false
}

// queue adds a frame for g, which ob's push writes.
func (d *Dispatcher) queue(ob *outbox, g *gwConn, build func([]byte) []byte) {
	d.framesOut.Add(1)
	g.w.add(build)
	if !slices.Contains(*ob, g) {
		*ob = append(*ob, g)
	}
}

// outbox is the links a link's reader goroutine queued frames for and has
// not pushed yet. It pushes them once it has handled every frame the kernel
// had for it: before it waits for more, so no frame waits on a read, and
// frames that came in one read leave in one write per link.
type outbox []*gwConn

func (ob *outbox) push() {
	for _, g := range *ob {
		g.w.push()
	}
	clear(*ob)
	*ob = (*ob)[:0]
}

// writer sends g's heartbeat and the frames its socket did not take when
// they were queued, until the link ends.
func (d *Dispatcher) writer(g *gwConn) {
	beat := time.NewTicker(linkBeat)
	defer beat.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-g.w.kick:
		case <-beat.C:
			d.framesOut.Add(1)
			g.w.add(func(b []byte) []byte { return appendLinkEmpty(b, linkPing) })
		}
		if err := g.w.flush(); err != nil {
			g.c.Close()
			return
		}
	}
}

// Snapshot returns the dispatcher's state: Connections are gateway links,
// Sessions routed uids, and one shard per gateway with its sessions.
func (d *Dispatcher) Snapshot() stats.Snapshot {
	s := stats.Snapshot{
		Kind: stats.KindDispatcher, ID: d.Addr(), Time: time.Now(), UptimeS: time.Since(d.start).Seconds(),
		Process: stats.ReadProcess(), FramesIn: d.framesIn.Load(), FramesOut: d.framesOut.Load(),
		Errors: map[string]int64{},
	}
	if n := d.offline.Load(); n > 0 {
		s.Errors["route_offline"] = n
	}
	d.mu.Lock()
	s.Dispatcher = "up"
	if d.rebuilding() {
		s.Dispatcher = "rebuilding" // SENDs to uids it does not know are answered 2
	}
	s.Sessions = int64(len(d.owner))
	s.Connections = int64(len(d.bySlot))
	s.Gateways = int64(len(d.byID))
	for _, g := range d.bySlot {
		s.Shards = append(s.Shards, stats.Snapshot{Kind: stats.KindGateway, ID: g.id, Sessions: g.sessions, Dispatcher: "up"})
	}
	d.mu.Unlock()
	sort.Slice(s.Shards, func(i, j int) bool { return s.Shards[i].ID < s.Shards[j].ID })
	return s
}
