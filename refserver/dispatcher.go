package refserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/refserver/wire"
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
	owner    map[uint64]uint32 // uid → slot of the gateway holding it

	framesIn, framesOut atomic.Int64
	offline             atomic.Int64 // routes to uids no gateway holds
	wg                  sync.WaitGroup
	closed              atomic.Bool
}

// gwConn is one registered gateway.
type gwConn struct {
	slot     uint32
	id       string
	epoch    uint64
	c        net.Conn
	sessions int64 // uids it holds; under Dispatcher.mu

	mu   sync.Mutex
	out  []byte
	kick chan struct{}
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
		bySlot: map[uint32]*gwConn{}, byID: map[string]*gwConn{}, owner: map[uint64]uint32{},
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
	g := d.register(c, f.id, f.epoch)
	defer d.unregister(g)
	go d.writer(g)
	g.queue(func(b []byte) []byte { return appendLinkWelcome(b, g.slot) })
	for {
		c.SetReadDeadline(time.Now().Add(linkDead))
		f, err := r.next()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.opts.Logf("dispatcher: gateway %s link closed: %v", g.id, err)
			}
			return
		}
		d.framesIn.Add(1)
		d.handle(g, &f)
	}
}

// register adds a gateway; one with the same id (a restart: a new epoch)
// replaces the old registration.
func (d *Dispatcher) register(c net.Conn, id string, epoch uint64) *gwConn {
	g := &gwConn{id: id, epoch: epoch, c: c, kick: make(chan struct{}, 1), done: make(chan struct{})}
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
	for uid, slot := range d.owner {
		if slot == g.slot {
			delete(d.owner, uid)
		}
	}
	g.sessions = 0
}

func (d *Dispatcher) handle(g *gwConn, f *linkFrame) {
	switch f.typ {
	case linkSync, linkOnline:
		var kicks []kickTo
		d.mu.Lock()
		eachUID(f.uids, func(uid uint64) {
			prev, had := d.owner[uid]
			if had && prev == g.slot {
				return
			}
			if o := d.bySlot[prev]; had && o != nil {
				o.sessions--
				if o.id != g.id { // not an older link of the same gateway
					kicks = append(kicks, kickTo{o, uid})
				}
			}
			d.owner[uid] = g.slot
			g.sessions++
		})
		d.mu.Unlock()
		for _, k := range kicks { // newest login wins, on any gateway
			k.g.queue(func(b []byte) []byte { return appendLinkKick(b, k.uid) })
		}
	case linkOffline:
		d.mu.Lock()
		eachUID(f.uids, func(uid uint64) {
			if d.owner[uid] == g.slot {
				delete(d.owner, uid)
				g.sessions--
			}
		})
		d.mu.Unlock()
	case linkRoute:
		d.mu.Lock()
		t := d.bySlot[d.owner[f.to]]
		d.mu.Unlock()
		if t == nil {
			d.offline.Add(1)
			g.queue(func(b []byte) []byte { return appendLinkResult(b, 0, f.req, wire.AckOffline) })
			return
		}
		t.queue(func(b []byte) []byte {
			return appendLinkRoute(b, g.slot, f.req, f.msgID, f.from, f.to, f.sentTS, f.payload)
		})
	case linkResult:
		d.mu.Lock()
		o := d.bySlot[f.origin]
		d.mu.Unlock()
		if o != nil { // an origin that is gone answers its own SENDs with ACK 2
			o.queue(func(b []byte) []byte { return appendLinkResult(b, 0, f.req, f.status) })
		}
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
			o.queue(func(b []byte) []byte { return appendLinkBroadcast(b, g.slot, f.msgID, f.from, f.sentTS, f.payload) })
		}
	case linkPing:
		g.queue(func(b []byte) []byte { return appendLinkEmpty(b, linkPong) })
	}
}

type kickTo struct {
	g   *gwConn
	uid uint64
}

func (g *gwConn) queue(build func([]byte) []byte) {
	g.mu.Lock()
	g.out = build(g.out)
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// writer sends g's queued frames and a heartbeat, until the link ends.
func (d *Dispatcher) writer(g *gwConn) {
	bw := bufio.NewWriterSize(g.c, 64<<10)
	beat := time.NewTicker(linkBeat)
	defer beat.Stop()
	var buf []byte
	for {
		select {
		case <-g.done:
			return
		case <-g.kick:
		case <-beat.C:
			g.queue(func(b []byte) []byte { return appendLinkEmpty(b, linkPing) })
		}
		g.mu.Lock()
		buf, g.out = g.out, buf[:0]
		g.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		d.framesOut.Add(1)
		g.c.SetWriteDeadline(time.Now().Add(linkDead))
		bw.Write(buf)
		if err := bw.Flush(); err != nil {
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
