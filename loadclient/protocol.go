package loadclient

import (
	"time"

	"github.com/imtool/imtool/internal/mqtt"
	"github.com/imtool/imtool/internal/wire"
)

// A client protocol is written once, as a proto, and driven by both
// engines: the engine dials, reads, writes, keeps the bytes a proto did
// not use yet and runs the timers; the proto turns bytes in into events
// and latencies and tells what to write. Its per-connection state is the
// engine's flat conn (state, pending, t0) plus what it keeps in per-loop
// maps only while it exists (a fragmented WebSocket message, the start of
// an imtool frame split across WebSocket messages).
type proto interface {
	// open runs when TCP is up: it writes what the protocol sends first
	// and moves the connection to stLogin (a handshake under way) or,
	// through x.held, to stHeld. false: the connection was closed.
	open(x *exch) bool
	// input handles bytes that arrived at x.rx and returns how many it
	// used; the engine keeps the rest and hands it back in front of the
	// next bytes. ok false: the connection was closed.
	input(x *exch, data []byte) (used int, ok bool)
	// beat writes the heartbeat planned at planned (ns since start).
	beat(x *exch, planned int64) bool
	// send writes one message planned at planned; it reports whether the
	// message counts as awaiting an answer (x.conn.pending was raised).
	send(x *exch, planned int64) bool
	// bye writes what the protocol sends before the swarm itself closes
	// a held connection with a FIN (MQTT: DISCONNECT, so the broker
	// publishes no will); the others send nothing.
	bye(x *exch)
	// drop forgets what the proto kept for connection x.slot.
	drop(slot int32)
}

// Connection states.
const (
	stIdle       uint8 = iota // not dialed yet
	stConnecting              // non-blocking connect in flight
	stUpgrade                 // WebSocket upgrade request sent, waiting for the 101
	stLogin                   // LOGIN sent, waiting for LOGIN_OK
	stHeld                    // established (raw), upgraded (ws) or logged in (imtool)
	stBackoff                 // waiting to redial
	stClosed                  // failed or dropped, not redialed
	stTLS                     // (epoll) TCP connected, TLS handshake on the handshake pool: still connecting
)

// handshaking tells whether a connection is past its connect but not yet
// held: it counts against --max-inflight and --login-timeout.
func handshaking(state uint8) bool { return state == stUpgrade || state == stLogin }

// conn is one connection's whole state: 32 bytes, no pointers. The epoll
// engine keeps them in a flat array per loop indexed by the connection's
// slot; the portable engine one per goroutine.
type conn struct {
	fd      int32
	state   uint8
	tries   uint8  // redials since the last success (backoff exponent)
	pending uint16 // messages waiting for their ACK (or echo)
	tick    uint32 // wheel tick the slot is filed under; 0 none
	aux     uint32 // a scenario's step on open (scenarioProto)
	t0      int64  // connect or handshake start, ns since the swarm started
	next    int64  // heartbeat base time, or redial time
}

// endpoint is what a proto asks of the engine for one connection.
type endpoint interface {
	// write sends b now or queues it; false when the connection was closed.
	write(slot int32, b []byte) bool
	// held makes the connection held: counted, heartbeats scheduled.
	held(slot int32)
	// gone ends a connection the server ended or broke: before stHeld an
	// error of class, after it a drop of cause (and class, unless clsNone).
	gone(slot int32, cause, class int, op string, err error)
}

// exch is one call into a proto: the connection and the engine around it.
// An engine keeps one per loop (or connection) and fills it per call.
type exch struct {
	c    *core
	k    *counters
	ep   endpoint
	slot int32
	g    int   // the connection's index in the plan
	conn *conn // its state
	rx   int64 // when the bytes being handled arrived, ns since start
	loop int   // the sending loop's number, for message ids
	rnd  *rng
	out  []byte // scratch for frames to write
}

func (x *exch) write(b []byte) bool { return x.ep.write(x.slot, b) }

func (x *exch) held() { x.ep.held(x.slot) }

func (x *exch) gone(cause, class int, op string, err error) bool {
	x.ep.gone(x.slot, cause, class, op, err)
	return false
}

// record adds a latency sample of series i.
func (x *exch) record(i int, d int64) { x.c.lat[i].Record(time.Duration(d)) }

// newProto makes the loop's (or connection's) proto for o.Proto.
func newProto(c *core) proto {
	switch c.o.Proto {
	case ProtoRaw:
		return rawProto{}
	case ProtoWS:
		return newWSProto(c, nil)
	case ProtoWSIMTool:
		return newWSProto(c, newIMToolProto(c))
	case ProtoMQTT:
		if c.ws.hs != nil { // ws:// targets: MQTT in WebSocket binary messages
			return newWSProto(c, newMQTTProto(c))
		}
		return newMQTTProto(c)
	case ProtoScenario:
		if c.ws.hs != nil { // one frame of the scenario per WebSocket message
			return newWSProto(c, newScenarioProto(c))
		}
		return newScenarioProto(c)
	}
	return newIMToolProto(c)
}

// rawProto connects and holds; messages are the payload, unanswered.
type rawProto struct{}

func (rawProto) open(x *exch) bool { x.held(); return true }

func (rawProto) input(_ *exch, data []byte) (int, bool) { return len(data), true }

func (rawProto) beat(*exch, int64) bool { return true }

func (rawProto) send(x *exch, _ int64) bool {
	x.k.unawaited.Add(1)
	x.write(x.c.payload)
	return false
}

func (rawProto) bye(*exch) {}

func (rawProto) drop(int32) {}

// imtoolProto is the imtool protocol (docs/PROTOCOL.md): LOGIN, PING,
// SEND → ACK, DELIVER. Its writes go through wrap when it runs inside
// another protocol (WebSocket binary messages).
type imtoolProto struct {
	c    *core
	wrap func(x *exch, frame []byte) bool // nil: write frames as they are
	tok  *wire.TokenMaker
}

func newIMToolProto(c *core) *imtoolProto {
	return &imtoolProto{c: c, tok: wire.NewTokenMaker(c.secret)}
}

func (p *imtoolProto) carry(wrap func(*exch, []byte) bool) { p.wrap = wrap }

func (p *imtoolProto) write(x *exch, b []byte) bool {
	if p.wrap != nil {
		return p.wrap(x, b)
	}
	return x.write(b)
}

func (p *imtoolProto) open(x *exch) bool {
	x.conn.state, x.conn.t0 = stLogin, x.c.now() // the LOGIN leaves now, not when the batch began
	uid := x.c.uid(x.g)
	return p.write(x, wire.AppendLogin(x.out[:0], uid, p.tok.Token(uid)))
}

// input handles every whole frame of data (wire.Frames: the one stream
// framing of the protocol).
func (p *imtoolProto) input(x *exch, data []byte) (int, bool) {
	used, stopped, err := wire.Frames(data, wire.DefaultMaxFrame, func(f wire.Frame) bool {
		x.k.framesIn.Add(1)
		return p.frame(x, &f)
	})
	if err != nil {
		return used, x.gone(dropError, clsProtocol, "bad frame from the server", err)
	}
	return used, !stopped
}

// frame handles one frame, which arrived at x.rx; false when the
// connection was closed.
func (p *imtoolProto) frame(x *exch, f *wire.Frame) bool {
	c, k := x.c, x.k
	rxUnix := int64(c.unix(x.rx))
	switch f.Type {
	case wire.TypeLoginOK:
		if x.conn.state != stLogin {
			return x.gone(dropError, clsProtocol, "LOGIN_OK twice", nil)
		}
		x.record(latLogin, x.rx-x.conn.t0)
		x.held()
	case wire.TypePong:
		k.pongs.Add(1)
		x.record(latHeartbeat, rxUnix-int64(f.TS))
	case wire.TypeAck:
		k.acked.Add(1)
		k.acks[min(int(f.Status), nAcks-1)].Add(1)
		if x.conn.pending > 0 {
			x.conn.pending--
		}
		x.record(latAck, rxUnix-int64(msgPlanned(f.MsgID)))
	case wire.TypeDeliver:
		k.delivered.Add(1)
		x.record(latDeliver, rxUnix-int64(f.SentTS))
	case wire.TypeError, wire.TypeKick:
		class, drop := classifyCode(f.Code, x.conn.state == stHeld)
		if f.Type == wire.TypeKick && drop == dropError {
			drop = dropKick
		}
		return x.gone(drop, class, frameText(f), nil)
	default:
		return x.gone(dropError, clsProtocol, "unexpected "+wire.TypeName(f.Type)+" from the server", nil)
	}
	return true
}

func (p *imtoolProto) beat(x *exch, planned int64) bool {
	return p.write(x, wire.AppendPing(x.out[:0], x.c.unix(planned)))
}

func (p *imtoolProto) send(x *exch, planned int64) bool {
	c := x.c
	to := c.uid(int(x.rnd.next() % uint64(c.plan.Conns)))
	ts := c.unix(planned)
	if x.conn.pending < ^uint16(0) {
		x.conn.pending++
	}
	p.write(x, wire.AppendSend(x.out[:0], msgID(ts, x.loop), to, ts, c.payload))
	return true
}

func (p *imtoolProto) bye(*exch) {}

func (p *imtoolProto) drop(int32) {}

// countedWhenHeld tells whether class is counted as an error even when it
// ends a held connection: a WebSocket close code says why, unlike a FIN.
func countedWhenHeld(class int) bool { return class >= clsWSClosePolicy && class != clsWSCloseNormal }

// beats tells whether held connections send heartbeats: with --heartbeat,
// in a protocol that has them (a scenario's heartbeat: section).
func (c *core) beats() bool {
	return c.o.Heartbeat > 0 && c.o.Proto != ProtoRaw && (c.scn == nil || c.scn.Heartbeat != nil)
}

// stepper is a proto whose handshake has steps of its own (a scenario):
// it says which step a connection waited at, with what it last received.
type stepper interface {
	stuck(x *exch, closed bool) (class int, text string)
}

// stepTimeout is how long the handshake step cn is at may wait: the
// scenario step's own timeout, else --login-timeout.
func (c *core) stepTimeout(cn *conn) time.Duration {
	if c.scn != nil && cn.state == stLogin && int(cn.aux) < len(c.scn.Steps) {
		if d := c.scn.Steps[cn.aux].Timeout; d > 0 {
			return d
		}
	}
	return c.o.LoginTimeout
}

// loginTimeout is the class and error of a handshake that did not finish
// in time.
func (c *core) loginTimeout(p proto, x *exch) (int, string) {
	state := x.conn.state
	if s, ok := p.(stepper); ok && state == stLogin && c.scn != nil {
		return s.stuck(x, false)
	}
	d := c.o.LoginTimeout
	if c.o.Proto == ProtoMQTT && state == stLogin {
		return clsMQTT + mqttClass(mqtt.ClassConnackTimeout), "no CONNACK (or SUBACK, with --subscribe) within --login-timeout " + d.String()
	}
	return clsLoginTimeout, loginTimeoutText(state, d)
}

// closedEarly is the class and error of a connection the server closed
// (FIN) before it was held; the class counts only before the connection
// was held.
func (c *core) closedEarly(p proto, x *exch) (int, string) {
	state := x.conn.state
	if s, ok := p.(stepper); ok && state == stLogin && c.scn != nil {
		return s.stuck(x, true)
	}
	if c.o.Proto == ProtoMQTT && state == stLogin {
		return clsMQTT + mqttClass(mqtt.ClassClosedAtConnect), "closed by the broker before its CONNACK (or SUBACK, with --subscribe)"
	}
	return clsConnReset, "closed by the server before the handshake ended"
}

// loginTimeoutText is the error of a handshake that did not finish in time.
func loginTimeoutText(state uint8, d time.Duration) string {
	if state == stUpgrade {
		return "no WebSocket 101 within --login-timeout " + d.String()
	}
	return "no LOGIN_OK within --login-timeout " + d.String()
}
