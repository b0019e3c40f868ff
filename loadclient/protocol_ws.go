package loadclient

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/imtool/imtool/internal/placeholder"
	"github.com/imtool/imtool/internal/ws"
)

// wsMaxMessage bounds a message (or frame) the swarm accepts from a server.
const wsMaxMessage = 1 << 20

// wsProto is WebSocket (RFC 6455): the upgrade (its own latency series),
// then either messages and pings of its own (--proto ws: heartbeats are
// WebSocket pings carrying their planned time, messages are timed by their
// echo) or the imtool protocol in binary messages (--proto ws+imtool).
type wsProto struct {
	c     *core
	hs    *ws.Handshake
	inner carried // nil for --proto ws
	// whole: the inner protocol (a scenario) frames text and binary
	// messages itself and writes messages of op; else its frames travel
	// in binary messages only.
	whole bool

	op       byte // OpText or OpBinary for messages
	payload  placeholder.Template
	tsPrefix []byte // what precedes {ts} in a message; echoes are timed by it
	timed    bool   // messages carry {ts} where an echo can find it
	seq      uint64

	asm    map[int32]*ws.Assembler // fragmented messages under way, by slot
	spare  *ws.Assembler           // the next message's, until it turns out fragmented
	free   []*ws.Assembler         // assemblers (and their buffers) to reuse
	stream map[int32][]byte        // ws+imtool: the start of an imtool frame split across messages
	wbuf   []byte
	pbuf   []byte
	vals   placeholder.Values
}

// carried is a protocol whose frames travel in WebSocket binary messages:
// imtool (ws+imtool), MQTT (ws:// targets of --proto mqtt).
type carried interface {
	proto
	// carry makes the protocol write its frames through wrap.
	carry(wrap func(x *exch, frame []byte) bool)
}

func newWSProto(c *core, inner carried) *wsProto {
	p := &wsProto{c: c, hs: c.ws.hs, inner: inner, op: ws.OpText, payload: c.ws.payload,
		asm: map[int32]*ws.Assembler{}, spare: new(ws.Assembler), stream: map[int32][]byte{}}
	if c.o.WSBinary {
		p.op = ws.OpBinary
	}
	if pre, ok := p.payload.Prefix(placeholder.TS); ok {
		p.tsPrefix, p.timed = []byte(pre), true
	}
	if sp, ok := inner.(*scenarioProto); ok {
		p.whole = true
		sp.carry(p.message)
		return p
	}
	if inner != nil {
		inner.carry(p.binary)
	}
	return p
}

// wsSetup is what every loop's wsProto shares, parsed once.
type wsSetup struct {
	hs      *ws.Handshake
	payload placeholder.Template
}

// mask is a fresh masking key (§5.3: unpredictable per frame).
func mask(x *exch) [4]byte {
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], uint32(x.rnd.next()))
	return k
}

// key is the connection's Sec-WebSocket-Key, made again from its index and
// the time its request left instead of being kept.
func key(x *exch) ws.Key {
	return ws.NewKey(uint64(x.g)*0x9E3779B97F4A7C15+1, uint64(x.conn.t0)*0xBF58476D1CE4E5B9)
}

func (p *wsProto) frame(x *exch, op byte, payload []byte) bool {
	p.wbuf = ws.AppendFrame(p.wbuf[:0], op, true, payload, true, mask(x))
	return x.write(p.wbuf)
}

// binary carries one frame of the inner protocol in a binary message.
func (p *wsProto) binary(x *exch, b []byte) bool { return p.frame(x, ws.OpBinary, b) }

// message carries one frame of the inner protocol in a message of p.op.
func (p *wsProto) message(x *exch, b []byte) bool { return p.frame(x, p.op, b) }

func (p *wsProto) open(x *exch) bool {
	x.conn.state, x.conn.t0 = stUpgrade, x.c.now()
	k := key(x)
	p.vals = placeholder.Values{UID: x.c.uid(x.g), I: uint64(x.g)}
	return x.write(p.hs.AppendRequest(x.out[:0], &p.vals, &k))
}

func (p *wsProto) input(x *exch, data []byte) (int, bool) {
	used := 0
	if x.conn.state == stUpgrade {
		k := key(x)
		n, err := p.hs.CheckResponse(data, &k)
		if err != nil {
			return 0, x.gone(dropError, upgradeClass(err), "WebSocket upgrade", err)
		}
		if n == 0 {
			return 0, true
		}
		x.record(latUpgrade, x.rx-x.conn.t0)
		used = n
		if p.inner == nil {
			x.held()
		} else if !p.inner.open(x) {
			return used, false
		}
	}
	for used < len(data) {
		f, n, err := ws.NextFrame(data[used:], wsMaxMessage, false)
		if err != nil {
			return used, p.broken(x, err)
		}
		if n == 0 {
			break
		}
		used += n
		if !p.handle(x, f) {
			return used, false
		}
	}
	return used, true
}

// broken answers a server that broke RFC 6455 with the close code for it.
func (p *wsProto) broken(x *exch, err error) bool {
	var we *ws.Error
	if errors.As(err, &we) {
		p.wbuf = ws.AppendClose(p.wbuf[:0], we.Code, "", true, mask(x))
		x.write(p.wbuf)
	}
	return x.gone(dropError, clsProtocol, "bad WebSocket frame from the server", err)
}

func (p *wsProto) handle(x *exch, f ws.Frame) bool {
	k := x.k
	if p.inner == nil {
		k.framesIn.Add(1)
	}
	switch f.Op {
	case ws.OpPing:
		return p.frame(x, ws.OpPong, f.Payload)
	case ws.OpPong:
		if len(f.Payload) == 8 { // ours: the planned time of the ping
			k.pongs.Add(1)
			x.record(latHeartbeat, int64(x.c.unix(x.rx))-int64(binary.BigEndian.Uint64(f.Payload)))
		}
		return true
	case ws.OpClose:
		code, reason, err := ws.ParseClose(f.Payload)
		if err != nil {
			return p.broken(x, err)
		}
		p.wbuf = ws.AppendClose(p.wbuf[:0], code, "", true, mask(x))
		if code == ws.CloseNoStatus {
			p.wbuf = ws.AppendFrame(p.wbuf[:0], ws.OpClose, true, nil, true, mask(x))
		}
		x.write(p.wbuf)
		msg := "closed by the server: " + ws.CloseName(code)
		if len(reason) > 0 {
			msg += " (" + string(reason) + ")"
		}
		class := closeClass(code)
		if sp, ok := p.inner.(*scenarioProto); ok {
			if c, named := sp.closeClass(code); named {
				class = c
			}
			if x.conn.state == stLogin {
				_, step := sp.stuck(x, true)
				msg += "; " + step
			}
		}
		return x.gone(dropServerClose, class, msg, nil)
	}
	a := p.asm[x.slot]
	if a == nil {
		a = p.spare
	}
	m, ok, err := a.Add(f, wsMaxMessage)
	if err != nil {
		return p.broken(x, err)
	}
	if a == p.spare && a.Open() { // a fragmented message begins: the spare is now its
		p.asm[x.slot] = a
		p.spare = p.reuse()
	} else if a != p.spare && !a.Open() {
		delete(p.asm, x.slot)
		p.free = append(p.free, a) // m.Data is its buffer: reused only by a later message
	}
	if !ok {
		return true
	}
	if p.inner != nil {
		return p.carried(x, m)
	}
	return p.echo(x, m)
}

// carried feeds a message to the protocol inside: as the next bytes of
// its stream (a frame may span messages), binary messages only unless it
// takes messages whole (a scenario, which frames each message itself).
func (p *wsProto) carried(x *exch, m ws.Message) bool {
	if !p.whole && m.Op != ws.OpBinary {
		return x.gone(dropError, clsProtocol, "a text message where the protocol's frames travel in binary ones", nil)
	}
	data := m.Data
	if rest, ok := p.stream[x.slot]; ok {
		data = append(rest, data...)
		delete(p.stream, x.slot)
	}
	used, ok := p.inner.input(x, data)
	if ok && used < len(data) {
		p.stream[x.slot] = append([]byte(nil), data[used:]...)
	}
	return ok
}

// echo counts a message from the server as the echo of one of ours, timed
// from the planned time it carries.
func (p *wsProto) echo(x *exch, m ws.Message) bool {
	k := x.k
	k.acked.Add(1)
	if x.conn.pending > 0 {
		x.conn.pending--
	}
	if !p.timed || !bytes.HasPrefix(m.Data, p.tsPrefix) {
		return true
	}
	var ts uint64
	digits := 0
	for _, b := range m.Data[len(p.tsPrefix):] {
		if b < '0' || b > '9' || digits == 20 {
			break
		}
		ts, digits = ts*10+uint64(b-'0'), digits+1
	}
	if digits > 0 {
		x.record(latEcho, int64(x.c.unix(x.rx))-int64(ts))
	}
	return true
}

func (p *wsProto) beat(x *exch, planned int64) bool {
	if p.inner != nil {
		return p.inner.beat(x, planned)
	}
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], x.c.unix(planned))
	return p.frame(x, ws.OpPing, ts[:])
}

func (p *wsProto) send(x *exch, planned int64) bool {
	if p.inner != nil {
		return p.inner.send(x, planned)
	}
	p.seq++
	p.vals = placeholder.Values{UID: x.c.uid(x.g), I: uint64(x.g), Seq: p.seq, TS: x.c.unix(planned)}
	p.pbuf = p.payload.Append(p.pbuf[:0], &p.vals)
	if x.conn.pending < ^uint16(0) {
		x.conn.pending++
	}
	p.frame(x, p.op, p.pbuf)
	return true
}

// reuse is an assembler from the free list, or a new one.
func (p *wsProto) reuse() *ws.Assembler {
	if n := len(p.free); n > 0 {
		a := p.free[n-1]
		p.free = p.free[:n-1]
		return a
	}
	return new(ws.Assembler)
}

// stuck (stepper) is the inner scenario's: which step a connection waited
// at (asked only of a swarm that runs a scenario).
func (p *wsProto) stuck(x *exch, closed bool) (int, string) {
	return p.inner.(*scenarioProto).stuck(x, closed)
}

func (p *wsProto) bye(x *exch) {
	if p.inner != nil {
		p.inner.bye(x)
	}
}

func (p *wsProto) drop(slot int32) {
	if p.inner != nil {
		p.inner.drop(slot)
	}
	if a, ok := p.asm[slot]; ok {
		a.Reset()
		delete(p.asm, slot)
		p.free = append(p.free, a)
	}
	if len(p.stream) > 0 {
		delete(p.stream, slot)
	}
}

// defaultWSPayload is a message of n bytes that starts with its planned
// time, so an echo is timed: "{ts} xxxx…".
func defaultWSPayload(n int) string {
	return "{ts} " + strings.Repeat("x", max(0, n-20))
}

// upgradeClass is the error class of a failed upgrade.
func upgradeClass(err error) int {
	var ue *ws.UpgradeError
	if !errors.As(err, &ue) {
		return clsProtocol
	}
	return classIndex(ue.Class())
}

// closeClass is the error class of a close code.
func closeClass(code uint16) int { return classIndex(ws.CloseClass(code)) }

// classIndex finds a class by name.
func classIndex(name string) int {
	for i, n := range classNames {
		if n == name {
			return i
		}
	}
	return clsOther
}
