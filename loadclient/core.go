package loadclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/imtool/imtool/internal/mqtt"
	"github.com/imtool/imtool/internal/scenario"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/tlsrec"
	"github.com/imtool/imtool/internal/wire"
	"github.com/imtool/imtool/internal/ws"
)

// Error classes by index, for flat counter arrays.
const (
	clsAddrNotAvail = iota
	clsMFile
	clsNFile
	clsConnRefused
	clsConnectTimeout
	clsConnReset
	clsLoginRejected
	clsLoginTimeout
	clsServerFull
	clsProtocol
	clsOther
	clsWS401 // WebSocket upgrade refused with HTTP 401, …
	clsWS403
	clsWS429
	clsWS503
	clsWSStatus  // … with another status
	clsWSInvalid // not HTTP, or a 101 that breaks RFC 6455
	clsWSClosePolicy
	clsWSCloseGoingAway
	clsWSCloseTryLater
	clsWSCloseInternal
	clsWSCloseTooBig
	clsWSCloseProtocol
	clsWSCloseNormal
	clsWSCloseOther
	clsTLSUnknownCA   // the server's certificate is from a CA we do not trust
	clsTLSBadCert     // … is invalid for the name, expired, …
	clsTLSCertRefused // the server refused our client certificate (or its absence)
	clsTLSTimeout     // no TLS handshake within --connect-timeout
	clsTLSHandshake   // any other TLS failure (versions, ciphers, not TLS)
	clsStepTimeout    // a scenario's step on open saw nothing it expects in time
	clsMQTT           // the first of mqtt.Classes(), in their order
	// clsTLSRec is the first of tlsrec.Classes(), in their order: the
	// epoll engine's TLS records and alerts after the handshake.
	clsTLSRec = clsMQTT + nMQTTClasses
	// clsUser is the first of a scenario's own error classes (its errors:
	// rules), named per run (core.names).
	clsUser  = clsTLSRec + nTLSRecClasses
	nClasses = clsUser + scenario.MaxErrorClasses
)

// nMQTTClasses is len(mqtt.Classes()), and nTLSRecClasses
// len(tlsrec.Classes()), checked when the package starts.
const (
	nMQTTClasses   = 17
	nTLSRecClasses = 6
)

func init() {
	names := mqtt.Classes()
	if len(names) != nMQTTClasses {
		panic("loadclient: nMQTTClasses is not len(mqtt.Classes())")
	}
	copy(classNames[clsMQTT:], names)
	tlsNames := tlsrec.Classes()
	if len(tlsNames) != nTLSRecClasses {
		panic("loadclient: nTLSRecClasses is not len(tlsrec.Classes())")
	}
	copy(classNames[clsTLSRec:], tlsNames)
}

var classNames = [nClasses]string{
	stats.ErrAddrNotAvail, stats.ErrMFile, stats.ErrNFile, stats.ErrConnRefused,
	stats.ErrConnectTimeout, stats.ErrConnReset, stats.ErrLoginRejected, stats.ErrLoginTimeout,
	stats.ErrServerFull, stats.ErrProtocol, stats.ErrOther,
	ws.ClassUpgrade401, ws.ClassUpgrade403, ws.ClassUpgrade429, ws.ClassUpgrade503, ws.ClassUpgradeStatus, ws.ClassUpgradeInvalid,
	ws.ClassClosePolicy, ws.ClassCloseGoingAway, ws.ClassCloseTryLater, ws.ClassCloseInternal,
	ws.ClassCloseTooBig, ws.ClassCloseProtocol, ws.ClassCloseNormal, ws.ClassCloseOther,
	stats.ErrTLSUnknownCA, stats.ErrTLSBadCert, stats.ErrTLSCertRefused, stats.ErrTLSTimeout, stats.ErrTLSHandshake,
	stats.ErrStepTimeout,
}

// Drop causes: why a held connection ended without the swarm closing it.
const (
	dropServerClose = iota // FIN from the server (or ERROR 9 shutting down)
	dropKick               // KICK (duplicate login, …)
	dropReset              // RST
	dropIdle               // ERROR 7 idle timeout
	dropError              // another ERROR frame, or a protocol error after login
	nDrops
)

var dropNames = [nDrops]string{"server_close", "kick", "reset", "idle", "error"}

// Latency recorders by index.
const (
	latConnect = iota
	latLogin
	latHeartbeat
	latAck
	latDeliver
	latLag
	latUpgrade
	latEcho
	latTLS
	latTLSResumed
	latMQTTConnect
	latMQTTPubAck
	latMQTTPubComp
	latMQTTSubAck
	nLat
)

var latNames = [nLat]string{stats.LatConnect, stats.LatLogin, stats.LatHeartbeat, stats.LatAck, stats.LatDeliver, stats.LatLag, stats.LatUpgrade, stats.LatEcho, stats.LatTLS, stats.LatTLSResumed,
	stats.LatMQTTConnect, stats.LatMQTTPubAck, stats.LatMQTTPubComp, stats.LatMQTTSubAck}

// nAcks counts ACK statuses 0..6; the last one holds any other status.
const nAcks = 8

// counters belong to one event loop (or one portable engine): written by
// that loop only, read by snapshots at any time.
type counters struct {
	attempts, established, held, dropped atomic.Int64
	connecting, loggingIn, started       atomic.Int64
	sent, acked, delivered, lost         atomic.Int64
	pings, pongs                         atomic.Int64
	serverPings                          atomic.Int64 // a scenario's answers
	churned                              atomic.Int64
	unsent                               atomic.Int64 // SENDs and PINGs not sent: the connection's send queue was full
	unawaited                            atomic.Int64 // messages sent that await no answer (raw, a scenario without ack:)
	expected                             atomic.Int64 // deliveries a scenario expects (see scenarioProto)
	duplicated                           atomic.Int64 // deliveries of a scenario's message already delivered ({mid})
	framesIn, framesOut                  atomic.Int64
	bytesIn, bytesOut                    atomic.Int64
	maxLag                               atomic.Int64
	errs                                 [nClasses]atomic.Int64
	drops                                [nDrops]atomic.Int64
	acks                                 [nAcks]atomic.Int64
	mq                                   mqttCounters   // --proto mqtt
	heldDest, heldSrc                    []atomic.Int64 // held per destination / source index
	errDest, errSrc                      []atomic.Int64 // [class*n + index]
	rampDone, done                       atomic.Bool
	// quieted: after quiet, this loop sends no more messages (it saw
	// quiet before its next burst, or it sends none).
	quieted atomic.Bool
	// The ramp, timed exactly: the first dial and the last connection
	// established before the ramp was done (ns since start; 0 none), the
	// connections established by then, and how the ramp's turns ended:
	// with everything the pacer had due dialed (the --rate cap) or with
	// dials left waiting for the --max-inflight window.
	rampFirst, rampLast, rampEst atomic.Int64
	rampHeldLast                 atomic.Int64 // the last connection held before the ramp was done
	rampPaced, rampWindow        atomic.Int64
	_                            [64]byte // keep loops' hot counters off each other's cache lines
}

func newCounters(nDest, nSrc int) *counters {
	nSrc = max(nSrc, 1)
	return &counters{
		heldDest: make([]atomic.Int64, nDest), heldSrc: make([]atomic.Int64, nSrc),
		errDest: make([]atomic.Int64, nClasses*nDest), errSrc: make([]atomic.Int64, nClasses*nSrc),
	}
}

// rampStarted notes a first dial at t (ns since start).
func (k *counters) rampStarted(t int64) { k.rampFirst.CompareAndSwap(0, t) }

// rampEstablished notes a connection established at t during the ramp.
func (k *counters) rampEstablished(t int64) {
	if k.rampDone.Load() {
		return
	}
	k.rampEst.Add(1)
	raise(&k.rampLast, t)
}

// rampHeld notes a connection held at t during the ramp.
func (k *counters) rampHeld(t int64) {
	if !k.rampDone.Load() {
		raise(&k.rampHeldLast, t)
	}
}

// raise makes v at least t.
func raise(v *atomic.Int64, t int64) {
	for {
		last := v.Load()
		if t <= last || v.CompareAndSwap(last, t) {
			return
		}
	}
}

// control is what the swarm tells its engine; the engine's loops poll it.
type control struct {
	paused atomic.Bool
	quiet  atomic.Bool // stop sending messages: the close is draining ACKs
	close  atomic.Bool // close every connection and return
}

// core is what both engines share: options, plan, clock, recorders,
// counters and examples of each error class.
type core struct {
	o         Options
	plan      *Plan
	shard     Shard
	start     time.Time
	grid      time.Duration // the period the loops wake on and plan requests on (gridPeriod)
	phase     int64         // this process's offset in grid: where its grid lies on CLOCK_MONOTONIC
	align     int64         // now() at start: how far past a point of the grid start was
	startUnix int64         // wall clock at now() == 0, ns: timestamps on the wire
	ctl       control
	lat       [nLat]stats.Recorder
	loops     []*counters
	examples  [nClasses]atomic.Pointer[string]
	payload   []byte
	secret    []byte
	ws        wsSetup   // --proto ws and ws+imtool
	mq        mqttSetup // --proto mqtt
	tls       tlsSetup  // TLS options, per destination
	scn       *scenario.Scenario
	// names are the error classes by index: classNames, and the scenario's
	// own in the clsUser slots.
	names [nClasses]string
	fixes map[string]string // the scenario's own classes' fixes
	// msgSeq numbers this process's scenario messages for {mid}.
	msgSeq atomic.Uint64
}

func newCore(o Options, plan *Plan) *core {
	c := &core{o: o, plan: plan, shard: plan.Shards[0], start: time.Now()}
	if o.Shard.Count > 0 {
		c.shard = o.Shard
	}
	c.grid = gridPeriod(ceilDiv(plan.Conns, max(c.shard.Count, 1)))
	p := int64(c.grid)
	if c.grid == minGrid {
		c.phase = p * int64(c.shard.First) / int64(max(plan.Conns, 1))
	}
	c.align = ((monoNow()-c.phase)%p + p) % p
	c.startUnix = c.start.UnixNano() - c.align
	c.payload = make([]byte, o.Payload)
	for i := range c.payload {
		c.payload[i] = 'x'
	}
	c.secret = o.AuthSecret
	c.names = classNames
	return c
}

// useScenario makes c run s: its error classes are named.
func (c *core) useScenario(s *scenario.Scenario) {
	c.scn = s
	for i, r := range s.Errors {
		c.names[clsUser+i] = r.Class
		if r.Fix != "" {
			if c.fixes == nil {
				c.fixes = map[string]string{}
			}
			c.fixes[r.Class] = r.Fix
		}
	}
}

// now is the monotonic clock in nanoseconds, counted from the point of this
// process's grid before start: multiples of the grid period in now() are the
// instants at which its loops wake (metronome), so a request planned on one
// is sent at once by a loop that keeps up.
//
// While the grid is at its finest (minGrid: a swarm of few processes), each
// shard process's grid is offset by its place in the swarm (phase: the share
// of the swarm's connections before its own, of the period): the shards send
// in as many small batches spread over the period, as independent clients
// would, not in one burst that every shard and gateway then works off
// together, whose queueing was the swarm's own doing. A coarser grid means
// wake-ups are what the machine is short of: then every shard wakes on the
// same instants, so a gateway process wakes once for what all of them sent
// rather than once for each (docs/MEASUREMENT.md).
func (c *core) now() int64 { return int64(time.Since(c.start)) + c.align }

// gridPeriod is the period of the grid the event loops wake on and plan
// requests on (heartbeats, messages), for a swarm of procs processes on
// this host. The finer the grid, the smaller each process's batches and
// the queueing behind them at the gateway; the coarser, the fewer
// wake-ups. The grid is as fine as 5 ms while the swarm's processes
// together wake at most gridWakeups times a second, and never coarser
// than 20 ms. In the default bench (6 processes) a 5 ms grid brought the
// hold's heartbeat p50 from 1.3–1.5 ms to 0.75 ms, against 0.12 ms for one
// client alone; at 400,000 connections (21 processes) it cost a tenth of a
// two-core machine, which a million (57) cannot spare: there a 20 ms grid
// with every shard on the same instants (see now) held it 72–77% busy
// against 85% on a 10 ms grid of spread instants.
func gridPeriod(procs int) time.Duration {
	return min(max(time.Duration(procs)*time.Second/gridWakeups, minGrid), maxGrid)
}

const (
	gridWakeups = 1600
	minGrid     = 5 * time.Millisecond
	maxGrid     = 20 * time.Millisecond
)

// onTick is the first point of the grid at or after t.
func (c *core) onTick(t int64) int64 {
	p := int64(c.grid)
	return (t + p - 1) / p * p
}

// lastTick is the last point of the grid at or before t.
func (c *core) lastTick(t int64) int64 { return t / int64(c.grid) * int64(c.grid) }

// unix turns a time since start into wall-clock nanoseconds for the wire.
func (c *core) unix(t int64) uint64 { return uint64(c.startUnix + t) }

// uid of global connection g.
func (c *core) uid(g int) uint64 { return c.o.UIDBase + uint64(g) }

// example keeps the first error message of each class; the message is
// built only then, so counting errors does not allocate.
func (c *core) example(class, g int, op string, err error) {
	if c.examples[class].Load() != nil {
		return
	}
	detail := op
	if err != nil {
		detail += ": " + errText(err)
	}
	d := c.plan.Dests[c.plan.Dest(g)]
	src := "kernel-chosen source"
	if s := c.plan.Source(g); s >= 0 {
		src = c.plan.Sources[s].String()
	}
	msg := fmt.Sprintf("%s → %s (connection %d): %s", src, d, g, detail)
	c.examples[class].CompareAndSwap(nil, &msg)
}

// fail counts an error of class for connection g.
func (c *core) fail(k *counters, class, g int, op string, err error) {
	k.errs[class].Add(1)
	d := c.plan.Dest(g)
	k.errDest[class*len(c.plan.Dests)+d].Add(1)
	s := max(c.plan.Source(g), 0)
	k.errSrc[class*len(k.heldSrc)+s].Add(1)
	c.example(class, g, op, err)
}

// hold and unhold count a connection in or out of the held set.
func (c *core) hold(k *counters, g int, delta int64) {
	k.held.Add(delta)
	k.heldDest[c.plan.Dest(g)].Add(delta)
	k.heldSrc[max(c.plan.Source(g), 0)].Add(delta)
}

// classifyFrame maps an ERROR/KICK code received before LOGIN_OK to an
// error class, and after it to a drop cause.
func classifyCode(code uint16, loggedIn bool) (class, drop int) {
	switch code {
	case wire.CodeLoginRejected:
		return clsLoginRejected, dropError
	case wire.CodeLoginTimeout:
		return clsLoginTimeout, dropError
	case wire.CodeServerFull:
		return clsServerFull, dropError
	case wire.CodeIdleTimeout:
		return clsOther, dropIdle
	case wire.CodeShuttingDown:
		return clsConnReset, dropServerClose
	case wire.CodeDuplicateLogin:
		return clsOther, dropKick
	case wire.CodeBadFrame, wire.CodeTooLarge, wire.CodeUnknownType, wire.CodeNotLoggedIn:
		return clsProtocol, dropError
	}
	return clsOther, dropError
}

// msgIDBits are the low bits of a msg_id that name the sending loop; the
// rest is the planned send time (unix ns), so an ACK, which carries only
// the msg_id, still gives the latency from the planned time.
const msgIDBits = 10

func msgID(plannedUnix uint64, loop int) uint64 {
	return plannedUnix&^(1<<msgIDBits-1) | uint64(loop)&(1<<msgIDBits-1)
}

func msgPlanned(id uint64) uint64 { return id &^ (1<<msgIDBits - 1) }

// heartbeatPhase spreads connection g's heartbeats over the interval: the
// swarm's N connections PING at evenly spaced offsets.
func (c *core) heartbeatPhase(g int) int64 {
	h := int64(c.o.Heartbeat)
	return int64(float64(g) / float64(max(c.plan.Conns, 1)) * float64(h))
}

// jitter is a deterministic pseudo-random offset in [0, span) for (g, k).
func jitter(g int, k int64, span int64) int64 {
	if span <= 0 {
		return 0
	}
	x := uint64(g)*0x9E3779B97F4A7C15 ^ uint64(k)*0xBF58476D1CE4E5B9
	x ^= x >> 31
	x *= 0x94D049BB133111EB
	x ^= x >> 29
	return int64(x % uint64(span))
}

// firstBeat is the first heartbeat base time after t for connection g:
// phase + k·interval; the planned time adds jitter (≤ 5% of the interval).
func (c *core) firstBeat(g int, t int64) int64 {
	h := int64(c.o.Heartbeat)
	ph := c.heartbeatPhase(g)
	if t < ph {
		return ph
	}
	k := (t-ph)/h + 1
	return ph + k*h
}

// beatPlanned is the planned send time of the heartbeat whose base is base.
func (c *core) beatPlanned(g int, base int64) int64 {
	h := int64(c.o.Heartbeat)
	return base + jitter(g, base/max(h, 1), h/20)
}

// rng is a tiny xorshift generator: one per loop, no locks, no allocation.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

// snapshotInto adds the counters of every loop to s.
func (c *core) snapshotInto(s *stats.Snapshot) (pending int64) {
	s.Errors = map[string]int64{}
	s.Sending = c.sending()
	for _, k := range c.loops {
		s.Attempts += k.attempts.Load()
		s.Established += k.established.Load()
		s.Held += k.held.Load()
		s.Dropped += k.dropped.Load()
		s.Sent += k.sent.Load()
		s.Acked += k.acked.Load()
		s.Delivered += k.delivered.Load()
		s.Pings += k.pings.Load()
		s.Pongs += k.pongs.Load()
		s.ServerPings += k.serverPings.Load()
		s.Churned += k.churned.Load()
		s.Unsent += k.unsent.Load()
		s.Unawaited += k.unawaited.Load()
		s.Expected += k.expected.Load()
		s.Duplicated += k.duplicated.Load()
		s.FramesIn += k.framesIn.Load()
		s.FramesOut += k.framesOut.Load()
		s.BytesIn += k.bytesIn.Load()
		s.BytesOut += k.bytesOut.Load()
		s.MaxLagNS = max(s.MaxLagNS, k.maxLag.Load())
		if t := k.rampFirst.Load(); t > 0 && (s.RampStartNS == 0 || int64(c.unix(t)) < s.RampStartNS) {
			s.RampStartNS = int64(c.unix(t))
		}
		if t := k.rampLast.Load(); t > 0 {
			s.RampEndNS = max(s.RampEndNS, int64(c.unix(t)))
		}
		if t := k.rampHeldLast.Load(); t > 0 {
			s.RampHeldNS = max(s.RampHeldNS, int64(c.unix(t)))
		}
		s.RampEstablished += k.rampEst.Load()
		s.RampPacedTurns += k.rampPaced.Load()
		s.RampWindowTurns += k.rampWindow.Load()
		pending += k.sent.Load() - k.acked.Load() - k.lost.Load() - k.unawaited.Load() - k.mq.sent[0].Load() // QoS 0 is not answered
		if c.o.Proto == ProtoMQTT {
			if s.MQTT == nil {
				s.MQTT = &stats.MQTT{}
			}
			k.mq.snapshot(s.MQTT, c.mq.expectUnknown)
		}
		for i := range k.errs {
			if v := k.errs[i].Load(); v > 0 {
				s.Errors[c.names[i]] += v
			}
		}
		for i := range k.drops {
			if v := k.drops[i].Load(); v > 0 {
				if s.Drops == nil {
					s.Drops = map[string]int64{}
				}
				s.Drops[dropNames[i]] += v
			}
		}
		for i := range k.acks {
			if v := k.acks[i].Load(); v > 0 {
				if s.Acks == nil {
					s.Acks = map[string]int64{}
				}
				s.Acks[wire.AckName(uint8(i))] += v
			}
		}
		if v := k.lost.Load(); v > 0 {
			if s.Acks == nil {
				s.Acks = map[string]int64{}
			}
			s.Acks[AckLost] += v
		}
		for i := range k.heldDest {
			if v := k.heldDest[i].Load(); v != 0 {
				if s.Ports == nil {
					s.Ports = map[string]int64{}
				}
				s.Ports[destLabel(c.plan, i)] += v
			}
		}
		if len(c.plan.Sources) > 0 {
			for i := range k.heldSrc {
				if v := k.heldSrc[i].Load(); v != 0 {
					if s.SourceIPs == nil {
						s.SourceIPs = map[string]int64{}
					}
					s.SourceIPs[c.plan.Sources[i].String()] += v
				}
			}
		}
	}
	for i := range c.lat {
		h := c.lat[i].Snapshot()
		if h.Count > 0 {
			if s.Latency == nil {
				s.Latency = map[string]stats.Hist{}
			}
			s.Latency[latNames[i]] = h
		}
	}
	s.Fixes = maps.Clone(c.fixes)
	for i := range c.examples {
		if m := c.examples[i].Load(); m != nil {
			if s.ErrorExample == nil {
				s.ErrorExample = map[string]string{}
			}
			s.ErrorExample[c.names[i]] = *m
		}
	}
	return pending
}

// AckLost is the key in Snapshot.Acks of SENDs whose connection closed
// before their ACK came: sent = acked + lost + in flight.
const AckLost = "lost"

// Drained says whether a swarm's snapshot (of one process or merged from
// many) has nothing in flight: no loop sends messages any more (they all
// saw quiet), every SEND that awaits an answer is ACKed or lost, and every
// delivery a scenario expects (Snapshot.Expected) and every message ACKed as
// delivered arrived at its recipient.
func Drained(s stats.Snapshot) bool {
	return s.Sending == 0 && s.Sent-s.Unawaited == s.Acked+s.Acks[AckLost] && s.Delivered >= s.Acks[wire.AckName(wire.AckDelivered)]+s.Expected
}

// sending is how many loops may still send messages: all of a swarm with a
// message rate until each sees quiet (a loop in the middle of a burst when
// quiet came still counts and sends what it started, which a drain must
// wait for). 0 without messages.
func (c *core) sending() int64 {
	if c.o.MsgRate == 0 {
		return 0
	}
	var n int64
	for _, k := range c.loops {
		if !k.quieted.Load() {
			n++
		}
	}
	return n
}

// destLabel names destination i in Snapshot.Ports: the port alone when the
// swarm has one target host, host:port otherwise.
func destLabel(p *Plan, i int) string {
	d := p.Dests[i]
	if len(p.Targets) == 1 {
		return fmt.Sprint(d.Port())
	}
	return d.String()
}

// ErrorCount is the number of errors of one class at one destination or
// from one source IP.
type ErrorCount struct {
	Class string
	Where string // "port 9003", "127.0.0.1:9003" or "source 127.0.0.2"
	N     int64
}

// errorsBy lists non-zero errors by class and destination, then by class
// and source IP.
func (c *core) errorsBy() []ErrorCount {
	var out []ErrorCount
	nd, ns := len(c.plan.Dests), max(len(c.plan.Sources), 1)
	for cls := 0; cls < nClasses; cls++ {
		for d := 0; d < nd; d++ {
			var n int64
			for _, k := range c.loops {
				n += k.errDest[cls*nd+d].Load()
			}
			if n > 0 {
				where := "port " + destLabel(c.plan, d)
				if len(c.plan.Targets) > 1 {
					where = destLabel(c.plan, d)
				}
				out = append(out, ErrorCount{c.names[cls], where, n})
			}
		}
		if len(c.plan.Sources) == 0 {
			continue
		}
		for s := 0; s < ns; s++ {
			var n int64
			for _, k := range c.loops {
				n += k.errSrc[cls*ns+s].Load()
			}
			if n > 0 {
				out = append(out, ErrorCount{c.names[cls], "source " + c.plan.Sources[s].String(), n})
			}
		}
	}
	return out
}

// errText is an error with its errno name when it has one:
// "connection refused (ECONNREFUSED)".
func errText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if name := errnoName(en); name != "" {
			return err.Error() + " (" + name + ")"
		}
	}
	return err.Error()
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EADDRNOTAVAIL:
		return "EADDRNOTAVAIL"
	case syscall.EMFILE:
		return "EMFILE"
	case syscall.ENFILE:
		return "ENFILE"
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.EPIPE:
		return "EPIPE"
	case syscall.EHOSTUNREACH:
		return "EHOSTUNREACH"
	case syscall.ENETUNREACH:
		return "ENETUNREACH"
	}
	return ""
}

// classOf maps an error from socket(), bind(), connect() or SO_ERROR to an
// error class.
func classOf(err error) int {
	var en syscall.Errno
	if errors.As(err, &en) {
		switch en {
		case syscall.EADDRNOTAVAIL:
			return clsAddrNotAvail
		case syscall.EMFILE:
			return clsMFile
		case syscall.ENFILE:
			return clsNFile
		case syscall.ECONNREFUSED:
			return clsConnRefused
		case syscall.ETIMEDOUT:
			return clsConnectTimeout
		case syscall.ECONNRESET, syscall.EPIPE:
			return clsConnReset
		}
	}
	return classOfText(err)
}

// classOfText classifies errors without an errno (the portable engine on
// other systems, dial timeouts).
func classOfText(err error) int {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return clsConnectTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return clsConnectTimeout
	}
	m := strings.ToLower(err.Error())
	switch {
	case strings.Contains(m, "refused"):
		return clsConnRefused
	case strings.Contains(m, "cannot assign requested address"), strings.Contains(m, "address not available"),
		strings.Contains(m, "only one usage of each socket address"), strings.Contains(m, "no buffer space"):
		return clsAddrNotAvail
	case strings.Contains(m, "too many open files"):
		return clsMFile
	case strings.Contains(m, "file table overflow"):
		return clsNFile
	case strings.Contains(m, "reset"), strings.Contains(m, "broken pipe"), strings.Contains(m, "forcibly closed"):
		return clsConnReset
	case strings.Contains(m, "timed out"), strings.Contains(m, "timeout"):
		return clsConnectTimeout
	}
	return clsOther
}

// frameText describes an ERROR or KICK frame for an error example.
func frameText(f *wire.Frame) string {
	if f.Type == wire.TypeKick {
		return "KICK " + wire.CodeName(f.Code)
	}
	return "ERROR " + wire.CodeName(f.Code) + ": " + string(f.Reason)
}
