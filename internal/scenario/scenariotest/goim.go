package scenariotest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goim's TCP protocol (github.com/Terry-Mao/goim, api/protocol): every
// packet is a 16-byte big-endian header, then the body.
//
//	offset size field
//	0      4    packLen   uint32, the whole packet, header included
//	4      2    headerLen uint16, always 16
//	6      2    ver       uint16
//	8      4    op        uint32
//	12     4    seq       uint32
//	16     …    body      packLen-16 bytes
const (
	GoimHeaderLen  = 16
	GoimMaxPackLen = 64 << 10 // larger packets close the connection (goim itself allows 4 KiB of body)

	GoimOpHeartbeat      = 2
	GoimOpHeartbeatReply = 3
	GoimOpSendMsg        = 4
	GoimOpSendMsgReply   = 5
	GoimOpAuth           = 7
	GoimOpAuthReply      = 8
	GoimOpRaw            = 9

	// GoimDeliverVer is the ver of a delivery (op 9); replies echo the
	// request's ver.
	GoimDeliverVer = 1
)

// GoimOptions configures StartGoim. Zero values take the defaults: an auth
// within 8 s, a heartbeat at least every 4 min.
type GoimOptions struct {
	// HeartbeatTimeout: an authed connection that sends no heartbeat (op 2)
	// for this long, counted from its auth and then from its last
	// heartbeat, is closed. Other packets do not extend it, as in goim.
	HeartbeatTimeout time.Duration
	// AuthTimeout: a connection whose auth (op 7) has not arrived this
	// long after it was accepted is closed.
	AuthTimeout time.Duration
}

// GoimAuth is the body of an auth packet (op 7), JSON as in goim's
// AuthToken. mid is required; the rest is kept but not checked.
type GoimAuth struct {
	Mid      *int64            `json:"mid"`
	Key      string            `json:"key"`
	RoomID   string            `json:"room_id"`
	Platform string            `json:"platform"`
	Accepts  []json.RawMessage `json:"accepts"`
}

// Goim is a goim-style length-prefixed binary gateway on a loopback port,
// in this process, stopped when the test ends. See StartGoim.
type Goim struct {
	Addr string // 127.0.0.1:PORT

	o  GoimOptions
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[*goimConn]struct{}
	byMid  map[int64]map[*goimConn]struct{}
	rooms  map[string]int // authed connections by room_id

	nconns      atomic.Int64
	authed      atomic.Int64
	heartbeats  atomic.Int64
	messages    atomic.Int64
	delivered   atomic.Int64
	undelivered atomic.Int64
}

type goimConn struct {
	c    net.Conn
	wmu  sync.Mutex // serialises writes: replies from its own goroutine, deliveries from senders'
	mid  int64
	room string
}

// StartGoim starts the gateway on 127.0.0.1:0. The protocol, per
// connection:
//
//   - The first packet must be an auth, op 7, whose body is JSON
//     {"mid":<int64>,"key":"…","room_id":"…","platform":"…","accepts":[…]}
//     (mid required). Reply: op 8, the same ver and seq, empty body; the
//     connection is then authed under mid. Anything else first, a body
//     that is not such JSON, or no auth within AuthTimeout: closed.
//   - Heartbeat op 2 → op 3 with the same ver and seq and a 4-byte
//     big-endian body: the number of authed connections in this
//     connection's room_id (as goim's room online count; 0 when room_id is
//     ""). No heartbeat within HeartbeatTimeout: closed.
//   - Send op 4, body = 8-byte big-endian recipient mid then the payload:
//     op 5 to the sender with the same ver and seq, empty body (also when
//     the recipient is not connected, which counts as undelivered); each
//     connection authed as that mid gets op 9, ver 1, seq 0, body = the
//     payload.
//   - A header with headerLen ≠ 16, packLen < 16 or > 64 KiB, any other op
//     (a second auth included), or a send body shorter than 8 bytes closes
//     that connection only.
func StartGoim(t testing.TB, o GoimOptions) *Goim {
	t.Helper()
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 8 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 4 * time.Minute
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Goim{
		Addr:  ln.Addr().String(),
		o:     o,
		ln:    ln,
		conns: make(map[*goimConn]struct{}),
		byMid: make(map[int64]map[*goimConn]struct{}),
		rooms: make(map[string]int),
	}
	g.wg.Add(1)
	go g.accept()
	t.Cleanup(g.Close)
	return g
}

// Close stops the gateway: closes the listener and every connection and
// waits for their goroutines. StartGoim's cleanup calls it.
func (g *Goim) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	g.ln.Close()
	for c := range g.conns {
		c.c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// Conns is the number of open connections, authed or not.
func (g *Goim) Conns() int { return int(g.nconns.Load()) }

// Authed is the number of open connections that have authed.
func (g *Goim) Authed() int { return int(g.authed.Load()) }

// Heartbeats is the number of heartbeats (op 2) answered.
func (g *Goim) Heartbeats() int64 { return g.heartbeats.Load() }

// Messages is the number of sends (op 4) acknowledged.
func (g *Goim) Messages() int64 { return g.messages.Load() }

// Delivered is the number of deliveries (op 9) written, one for each
// connection of the recipient.
func (g *Goim) Delivered() int64 { return g.delivered.Load() }

// Undelivered is the number of sends whose recipient had no connection.
func (g *Goim) Undelivered() int64 { return g.undelivered.Load() }

func (g *Goim) accept() {
	defer g.wg.Done()
	for {
		nc, err := g.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		c := &goimConn{c: nc}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			nc.Close()
			return
		}
		g.conns[c] = struct{}{}
		g.nconns.Add(1)
		g.wg.Add(1)
		g.mu.Unlock()
		go g.serve(c)
	}
}

// goimPacket is one decoded packet.
type goimPacket struct {
	ver  uint16
	op   uint32
	seq  uint32
	body []byte
}

var errGoimFrame = errors.New("bad goim frame")

// readGoim reads one packet; errGoimFrame for a bad header.
func readGoim(r io.Reader, hdr []byte) (goimPacket, error) {
	var p goimPacket
	if _, err := io.ReadFull(r, hdr[:GoimHeaderLen]); err != nil {
		return p, err
	}
	packLen := binary.BigEndian.Uint32(hdr[0:4])
	headerLen := binary.BigEndian.Uint16(hdr[4:6])
	p.ver = binary.BigEndian.Uint16(hdr[6:8])
	p.op = binary.BigEndian.Uint32(hdr[8:12])
	p.seq = binary.BigEndian.Uint32(hdr[12:16])
	if headerLen != GoimHeaderLen || packLen < GoimHeaderLen || packLen > GoimMaxPackLen {
		return p, fmt.Errorf("%w: packLen %d headerLen %d", errGoimFrame, packLen, headerLen)
	}
	if n := packLen - GoimHeaderLen; n > 0 {
		p.body = make([]byte, n)
		if _, err := io.ReadFull(r, p.body); err != nil {
			return p, err
		}
	}
	return p, nil
}

// AppendGoim appends one packet (header and body) to b.
func AppendGoim(b []byte, ver uint16, op, seq uint32, body []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(GoimHeaderLen+len(body)))
	b = binary.BigEndian.AppendUint16(b, GoimHeaderLen)
	b = binary.BigEndian.AppendUint16(b, ver)
	b = binary.BigEndian.AppendUint32(b, op)
	b = binary.BigEndian.AppendUint32(b, seq)
	return append(b, body...)
}

const goimWriteTimeout = 5 * time.Second

// write sends one packet; a failed or slow write closes the connection.
func (c *goimConn) write(ver uint16, op, seq uint32, body []byte) error {
	b := AppendGoim(make([]byte, 0, GoimHeaderLen+len(body)), ver, op, seq, body)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(goimWriteTimeout))
	_, err := c.c.Write(b)
	if err != nil {
		c.c.Close()
	}
	return err
}

func (g *Goim) serve(c *goimConn) {
	defer g.wg.Done()
	authed := false
	defer func() {
		c.c.Close()
		g.mu.Lock()
		delete(g.conns, c)
		if authed {
			set := g.byMid[c.mid]
			delete(set, c)
			if len(set) == 0 {
				delete(g.byMid, c.mid)
			}
			if g.rooms[c.room]--; g.rooms[c.room] == 0 {
				delete(g.rooms, c.room)
			}
			g.authed.Add(-1)
		}
		g.nconns.Add(-1)
		g.mu.Unlock()
	}()

	hdr := make([]byte, GoimHeaderLen)
	// Auth first, within AuthTimeout.
	c.c.SetReadDeadline(time.Now().Add(g.o.AuthTimeout))
	p, err := readGoim(c.c, hdr)
	if err != nil || p.op != GoimOpAuth {
		return
	}
	var a GoimAuth
	if json.Unmarshal(p.body, &a) != nil || a.Mid == nil {
		return
	}
	c.mid, c.room = *a.Mid, a.RoomID
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	set := g.byMid[c.mid]
	if set == nil {
		set = make(map[*goimConn]struct{})
		g.byMid[c.mid] = set
	}
	set[c] = struct{}{}
	g.rooms[c.room]++
	authed = true
	g.authed.Add(1)
	g.mu.Unlock()
	c.c.SetReadDeadline(time.Now().Add(g.o.HeartbeatTimeout))
	if c.write(p.ver, GoimOpAuthReply, p.seq, nil) != nil {
		return
	}

	for {
		p, err := readGoim(c.c, hdr)
		if err != nil {
			return // closed, timed out (no heartbeat) or a bad header
		}
		switch p.op {
		case GoimOpHeartbeat:
			c.c.SetReadDeadline(time.Now().Add(g.o.HeartbeatTimeout))
			var online uint32
			if c.room != "" {
				g.mu.Lock()
				online = uint32(g.rooms[c.room])
				g.mu.Unlock()
			}
			// Counted before the reply leaves: a client that has read the
			// reply finds it counted.
			g.heartbeats.Add(1)
			if c.write(p.ver, GoimOpHeartbeatReply, p.seq, binary.BigEndian.AppendUint32(nil, online)) != nil {
				return
			}
		case GoimOpSendMsg:
			if len(p.body) < 8 {
				return
			}
			to := int64(binary.BigEndian.Uint64(p.body[:8]))
			payload := p.body[8:]
			g.mu.Lock()
			var dst []*goimConn
			for d := range g.byMid[to] {
				dst = append(dst, d)
			}
			g.mu.Unlock()
			g.messages.Add(1)
			if len(dst) == 0 {
				g.undelivered.Add(1)
			}
			if c.write(p.ver, GoimOpSendMsgReply, p.seq, nil) != nil {
				return
			}
			for _, d := range dst {
				g.delivered.Add(1) // before the write, as the heartbeats
				if d.write(GoimDeliverVer, GoimOpRaw, 0, payload) != nil {
					g.delivered.Add(-1)
				}
			}
		default:
			return
		}
	}
}
