package loadclient

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/imtool/imtool/internal/scenario"
	"github.com/imtool/imtool/internal/wire"
)

// scenarioProto is a gateway's own protocol, from a scenario file
// (--scenario, docs/SCENARIOS.md), on the protocol layer: over TCP (or TLS)
// it cuts frames with the scenario's framing; over WebSocket it runs
// inside wsProto, which hands it each message whole.
//
// Per connection it keeps, in the engine's conn, the step on open it is at
// (conn.aux) and, in held state, the planned time of the last heartbeat
// (conn.t0) to time replies that carry no time; in maps only while they
// exist, the variables its steps captured for later templates and, while
// a step waits, the last bytes received (for the error if it never
// passes). A held connection of a scenario that captures nothing costs
// nothing more than one of the imtool protocol.
type scenarioProto struct {
	c    *core
	s    *scenario.Scenario
	wrap func(x *exch, b []byte) bool // over WebSocket: writes a message
	v    scenario.Values
	tok  *wire.TokenMaker
	jwt  *scenario.Signer

	saved map[int32][]byte      // slot → its persistent variables (see save)
	seen  map[int32][]byte      // slot → the last bytes received while a step waits
	mids  map[uint64]*midWindow // sender → the {mid}s of its messages delivered here (dlvMID)
	wbuf  []byte
	seq   uint64

	// Which built-in captures each timed matcher makes.
	hb, ack, dlv timing
	dlvMID       int // the variable a delivery's {mid} is captured in; -1 none
}

// timing says how a matcher's frame is timed: by the {ts} or {tid} it
// captured, or (neither) by the time the request left.
type timing struct{ ts, tid int }

func timingOf(s *scenario.Scenario, m *scenario.Matcher) timing {
	t := timing{-1, -1}
	if m == nil {
		return t
	}
	if i := s.VarIndex(scenario.CapTS); i >= 0 && m.Captures(i) {
		t.ts = i
	}
	if i := s.VarIndex(scenario.CapTID); i >= 0 && m.Captures(i) {
		t.tid = i
	}
	return t
}

func newScenarioProto(c *core) *scenarioProto {
	s := c.scn
	secret := []byte(s.TokenSecret)
	if len(secret) == 0 {
		secret = c.secret
	}
	p := &scenarioProto{c: c, s: s, v: scenario.NewValues(s), tok: wire.NewTokenMaker(secret),
		saved: map[int32][]byte{}, seen: map[int32][]byte{}}
	if s.JWT != nil {
		p.jwt = scenario.NewSigner(s.JWT)
	}
	if s.Heartbeat != nil {
		p.hb = timingOf(s, s.Heartbeat.Reply)
	}
	p.dlvMID = -1
	if s.Message != nil {
		p.ack, p.dlv = timingOf(s, s.Message.Ack), timingOf(s, s.Message.Deliver)
		if i := s.VarIndex(scenario.CapMID); i >= 0 && s.Message.Deliver != nil && s.Message.Deliver.Captures(i) {
			p.dlvMID, p.mids = i, map[uint64]*midWindow{}
		}
	}
	return p
}

func (p *scenarioProto) carry(wrap func(*exch, []byte) bool) { p.wrap = wrap }

// write builds t for connection x at t (ns since start; the planned time
// of a heartbeat or message) and sends it.
func (p *scenarioProto) write(x *exch, tpl *scenario.Template, at int64) bool {
	v := &p.v
	v.UID, v.I = x.c.uid(x.g), uint64(x.g)
	v.TS, v.TID = x.c.unix(at), uint64(uint32(at/1000))
	v.Unix = v.TS / 1e9
	p.seq++
	v.Seq = p.seq
	if tpl.UsesToken() { // made for the templates that use them: logins, as a rule
		v.Token = p.tok.Token(v.UID)
	}
	if p.jwt != nil && tpl.UsesJWT() {
		v.JWT = p.jwt.Token(v)
	}
	p.wbuf = tpl.Append(p.wbuf[:0], v)
	if p.wrap != nil {
		return p.wrap(x, p.wbuf)
	}
	return x.write(p.wbuf)
}

func (p *scenarioProto) open(x *exch) bool {
	x.conn.state, x.conn.t0, x.conn.aux = stLogin, x.c.now(), 0
	return p.advance(x)
}

// advance begins the step the connection is at: sends what it sends and,
// when it expects nothing, goes on to the next; false when the connection
// was closed.
func (p *scenarioProto) advance(x *exch) bool {
	steps := p.s.Steps
	if len(steps) == 0 && x.conn.state != stHeld {
		x.held()
		return true
	}
	for int(x.conn.aux) < len(steps) {
		st := &steps[x.conn.aux]
		if x.conn.state != stHeld {
			x.conn.t0 = x.c.now() // the step's timeout and the login latency count from here
		}
		if st.Send != nil {
			if len(p.s.Persistent) > 0 {
				p.load(x.slot)
			}
			if !p.write(x, st.Send, x.c.now()) {
				return false
			}
		}
		if st.Expect != nil {
			return true
		}
		x.conn.aux++
		if st.Held && x.conn.state != stHeld {
			x.held()
		}
	}
	return true
}

func (p *scenarioProto) input(x *exch, data []byte) (int, bool) {
	used := 0
	for used < len(data) {
		f, n, err := p.s.Framing.Next(data[used:], p.wrap != nil)
		if err != nil {
			return used, x.gone(dropError, clsProtocol, "bad frame from the server (scenario framing)", err)
		}
		if n == 0 {
			break
		}
		used += n
		x.k.framesIn.Add(1)
		if !p.frame(x, f) {
			return used, false
		}
	}
	return used, true
}

// frame handles one frame; false when the connection was closed. Error
// rules come first, then the step that waits, the server's pings, and the
// replies of a held connection; a frame nothing matches is let pass.
func (p *scenarioProto) frame(x *exch, f scenario.Frame) bool {
	s, v := p.s, &p.v
	if len(s.Persistent) > 0 {
		p.load(x.slot)
	}
	for i := range s.Errors {
		r := &s.Errors[i]
		if r.Match.Match(f, v) {
			return x.gone(dropError, clsUser+i, fmt.Sprintf("the server sent what error rule %d (line %d) names: %s", i+1, r.Match.Pos.Line, excerpt(f.Data)), nil)
		}
	}
	if st := p.waiting(x); st != nil && st.Expect.Match(f, v) {
		return p.passed(x, st)
	}
	for i := range s.Answers {
		a := &s.Answers[i]
		if a.Match.Match(f, v) {
			x.k.serverPings.Add(1)
			if a.Send != nil {
				return p.write(x, a.Send, x.rx)
			}
			return true
		}
	}
	if x.conn.state != stHeld {
		p.remember(x.slot, f.Data)
		return true
	}
	if h := s.Heartbeat; h != nil && h.Reply != nil && h.Reply.Match(f, v) {
		x.k.pongs.Add(1)
		if d, ok := p.took(x, p.hb); ok {
			x.record(latHeartbeat, d)
		} else {
			x.record(latHeartbeat, x.rx-x.conn.t0)
		}
		return true
	}
	if m := s.Message; m != nil {
		if m.Ack != nil && m.Ack.Match(f, v) {
			x.k.acked.Add(1)
			if m.Deliver != nil {
				x.k.expected.Add(1)
			}
			if x.conn.pending > 0 {
				x.conn.pending--
			}
			if d, ok := p.took(x, p.ack); ok {
				x.record(latAck, d)
			}
			return true
		}
		if m.Deliver != nil && m.Deliver.Match(f, v) {
			if p.dlvMID >= 0 && !p.firstDelivery(p.dlvMID) {
				x.k.duplicated.Add(1)
				return true
			}
			x.k.delivered.Add(1)
			if d, ok := p.took(x, p.dlv); ok {
				x.record(latDeliver, d)
			}
			return true
		}
	}
	return true
}

// took is how long ago the request whose time a frame carried was planned:
// from its {ts} (unix ns) or its {tid} (µs since the swarm started, mod
// 2^32: good for answers within half an hour).
func (p *scenarioProto) took(x *exch, t timing) (int64, bool) {
	if t.ts >= 0 {
		if ts, ok := p.v.Number(t.ts); ok {
			return int64(x.c.unix(x.rx)) - int64(ts), true
		}
	}
	if t.tid >= 0 {
		if tid, ok := p.v.Number(t.tid); ok {
			// Signed: a request planned on the grid point just ahead of
			// its send can be answered a moment before that point.
			return int64(int32(uint32(x.rx/1000)-uint32(tid))) * 1000, true
		}
	}
	return 0, false
}

// waiting is the step whose expect the connection waits for, or nil.
func (p *scenarioProto) waiting(x *exch) *scenario.Step {
	if i := int(x.conn.aux); i < len(p.s.Steps) && p.s.Steps[i].Expect != nil {
		return &p.s.Steps[i]
	}
	return nil
}

// passed moves a connection past the step whose expect matched.
func (p *scenarioProto) passed(x *exch, st *scenario.Step) bool {
	if captures(st.Expect, p.s.Persistent) {
		p.save(x.slot)
	}
	if len(p.seen) > 0 {
		delete(p.seen, x.slot)
	}
	x.conn.aux++
	if st.Held && x.conn.state != stHeld {
		x.record(latLogin, x.rx-x.conn.t0)
		x.held()
	}
	return p.advance(x)
}

func captures(m *scenario.Matcher, vars []int) bool {
	for _, i := range vars {
		if m.Captures(i) {
			return true
		}
	}
	return false
}

// save keeps the connection's persistent variables (as p.v holds them now)
// for its later templates: each as a 2-byte length and its text.
func (p *scenarioProto) save(slot int32) {
	var b []byte
	for _, i := range p.s.Persistent {
		var val []byte
		if p.v.IsNum[i] {
			val = strconv.AppendUint(nil, p.v.Num[i], 10)
		} else {
			val = p.v.Text[i]
		}
		val = val[:min(len(val), 0xffff)]
		b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
		b = append(b, val...)
	}
	p.saved[slot] = b
}

// load puts connection slot's persistent variables into p.v.
func (p *scenarioProto) load(slot int32) {
	b := p.saved[slot]
	for _, i := range p.s.Persistent {
		var val []byte
		if len(b) >= 2 {
			n := int(binary.BigEndian.Uint16(b))
			val, b = b[2:2+n], b[2+n:]
		}
		p.v.SetText(i, val)
	}
}

// remember keeps the last bytes a waiting connection received, for the
// error if its step never passes.
func (p *scenarioProto) remember(slot int32, data []byte) {
	const keep = 96
	old := p.seen[slot]
	old = append(old, data...)
	if len(old) > keep {
		old = append(old[:0], old[len(old)-keep:]...)
	}
	p.seen[slot] = old
}

// stuck is the class and text of a connection whose step on open did not
// pass: timed out, or closed by the server (closed).
func (p *scenarioProto) stuck(x *exch, closed bool) (int, string) {
	what := "no frame matched"
	class := clsStepTimeout
	if closed {
		what, class = "the server closed the connection", clsConnReset
	}
	i := int(x.conn.aux)
	step := "the steps on open"
	if i < len(p.s.Steps) {
		step = p.s.Steps[i].Describe(i)
	}
	text := fmt.Sprintf("%s: %s", step, what)
	if !closed {
		text += " within " + x.c.stepTimeout(x.conn).String()
	}
	if b := p.seen[x.slot]; len(b) > 0 {
		text += "; last bytes received: " + excerpt(b)
	} else {
		text += "; nothing received"
	}
	return class, text
}

// closeClass names a WebSocket close by the scenario's error rules.
func (p *scenarioProto) closeClass(code uint16) (int, bool) {
	for i := range p.s.Errors {
		if p.s.Errors[i].Match.MatchClose(int(code)) {
			return clsUser + i, true
		}
	}
	return 0, false
}

func (p *scenarioProto) beat(x *exch, planned int64) bool {
	h := p.s.Heartbeat
	if h == nil {
		return true
	}
	if len(p.s.Persistent) > 0 {
		p.load(x.slot)
	}
	x.conn.t0 = planned // replies that carry no time are timed from here
	return p.write(x, h.Send, planned)
}

func (p *scenarioProto) send(x *exch, planned int64) bool {
	m := p.s.Message
	if m == nil {
		return false
	}
	if len(p.s.Persistent) > 0 {
		p.load(x.slot)
	}
	p.v.Peer = x.c.uid(int(x.rnd.next() % uint64(x.c.plan.Conns)))
	p.v.MID = x.c.uid(x.c.shard.First)<<midSeqBits | x.c.msgSeq.Add(1)&(1<<midSeqBits-1)
	p.write(x, m.Send, planned)
	if m.Ack == nil {
		x.k.unawaited.Add(1)
		if m.Deliver != nil {
			x.k.expected.Add(1)
		}
		return false
	}
	if x.conn.pending < ^uint16(0) {
		x.conn.pending++
	}
	return true
}

func (p *scenarioProto) bye(*exch) {}

func (p *scenarioProto) drop(slot int32) {
	if len(p.saved) > 0 {
		delete(p.saved, slot)
	}
	if len(p.seen) > 0 {
		delete(p.seen, slot)
	}
}

// excerpt shows bytes for an error: quoted text, at most 96 bytes.
func excerpt(b []byte) string {
	if len(b) > 96 {
		return strconv.Quote(string(b[:96])) + "…"
	}
	return strconv.Quote(string(b))
}

// A {mid} is the uid of its sender process's first connection (unique in
// the swarm, agents included) above a sequence number of midSeqBits, so a
// few processes' ids stay below 2^53, where JSON numbers are exact.
const midSeqBits = 31

// firstDelivery tells whether the {mid} captured in variable i is a
// message's first delivery to this loop (or connection).
func (p *scenarioProto) firstDelivery(i int) bool {
	mid, ok := p.v.Number(i)
	if !ok {
		return true
	}
	w := p.mids[mid>>midSeqBits]
	if w == nil {
		w = new(midWindow)
		p.mids[mid>>midSeqBits] = w
	}
	return w.add(mid & (1<<midSeqBits - 1))
}

// midWindow is what one sender's messages delivered here were: the last
// midWindowBits sequence numbers below the highest. A duplicate older than
// that counts as new: duplicates are caught as long as they come within
// that many of the sender's messages.
type midWindow struct {
	high uint64
	bits [midWindowBits / 64]uint64
}

const midWindowBits = 4096

// add records seq and tells whether it is new.
func (w *midWindow) add(seq uint64) bool {
	if seq > w.high {
		if seq-w.high >= midWindowBits {
			w.bits = [midWindowBits / 64]uint64{}
		} else {
			w.forget(w.high+1, seq)
		}
		w.high = seq
		w.bits[seq%midWindowBits/64] |= 1 << (seq % 64)
		return true
	}
	if w.high-seq >= midWindowBits {
		return true
	}
	word, bit := seq%midWindowBits/64, uint64(1)<<(seq%64)
	if w.bits[word]&bit != 0 {
		return false
	}
	w.bits[word] |= bit
	return true
}

// forget clears the bits of sequence numbers from up to (not including)
// to, which the window slides past: whole words at a time where it can.
func (w *midWindow) forget(from, to uint64) {
	for s := from; s < to; {
		if s%64 == 0 && to-s >= 64 {
			w.bits[s%midWindowBits/64] = 0
			s += 64
			continue
		}
		w.bits[s%midWindowBits/64] &^= 1 << (s % 64)
		s++
	}
}
