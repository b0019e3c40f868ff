package refserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Link frame types (gateway ↔ dispatcher). Framing is the client
// protocol's: u32 big-endian length (type byte + body), type, body.
const (
	linkHello     byte = 0x21 // G→D: epoch u64, id_len u16, id
	linkWelcome   byte = 0x22 // D→G: slot u32
	linkSync      byte = 0x23 // G→D: last u8, (uid u64, sid u64, login_ns u64)… (the whole session list, in chunks)
	linkOnline    byte = 0x24 // G→D: (uid u64, sid u64, login_ns u64)…
	linkOffline   byte = 0x25 // G→D: (uid u64, sid u64)…
	linkRoute     byte = 0x26 // both ways: origin u32, origin_epoch u64, req u64, msg_id u64, from u64, to u64, sent_ts u64, payload
	linkResult    byte = 0x27 // both ways: origin u32, req u64, status u8
	linkBroadcast byte = 0x28 // both ways: origin u32, msg_id u64, from u64, sent_ts u64, payload
	linkKick      byte = 0x29 // D→G: uid u64, sid u64
	linkPing      byte = 0x2A // both ways: empty
	linkPong      byte = 0x2B // both ways: empty
	linkLate      byte = 0x2C // G→D: (origin_epoch u64, req u64, status u8)… results of the last routeTimeout, again
)

// maxLinkFrame bounds a link frame: a payload of the largest client frame
// plus the route header, or a sync chunk.
const maxLinkFrame = 1 << 20

// uidsPerChunk keeps sync and online/offline batches well under maxLinkFrame.
const uidsPerChunk = 16 << 10

// Sizes of one entry of SYNC/ONLINE (uid, sid, login_ns) and OFFLINE (uid, sid).
const (
	loginEntry   = 24
	sessionEntry = 16
	lateEntry    = 17
)

var (
	errLinkFrame = errors.New("malformed link frame")
	errLinkStale = fmt.Errorf("a frame came more than %v after the one before: the link was dead (this process or its peer was stopped or starved), so it is not acted on", linkDead)
)

// checkGap is the rule both ends apply to each frame they read: a frame
// read more than linkDead after the previous one comes from a link the
// peer has already declared dead (and whose routes it has answered), so the
// link is dropped instead of acting on it. last is the previous frame's time.
func checkGap(last *time.Time) error {
	now := time.Now()
	if now.Sub(*last) > linkDead {
		return errLinkStale
	}
	*last = now
	return nil
}

type linkFrame struct {
	typ     byte
	origin  uint32
	req     uint64
	msgID   uint64
	from    uint64
	to      uint64
	sentTS  uint64
	uid     uint64
	sid     uint64
	epoch   uint64
	status  uint8
	last    bool
	id      string
	entries []byte // packed SYNC/ONLINE/OFFLINE/LATE entries; alias the read buffer
	payload []byte // aliases the read buffer
}

func appendLinkHeader(dst []byte, typ byte, bodyLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen+1))
	return append(dst, typ)
}

func appendLinkHello(dst []byte, epoch uint64, id string) []byte {
	dst = appendLinkHeader(dst, linkHello, 10+len(id))
	dst = binary.BigEndian.AppendUint64(dst, epoch)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(id)))
	return append(dst, id...)
}

func appendLinkWelcome(dst []byte, slot uint32) []byte {
	dst = appendLinkHeader(dst, linkWelcome, 4)
	return binary.BigEndian.AppendUint32(dst, slot)
}

// appendLinkLogins appends a SYNC (with its last flag), ONLINE or OFFLINE
// frame (whose entries leave out the login time).
func appendLinkLogins(dst []byte, typ byte, last bool, logins []login) []byte {
	size := loginEntry
	if typ == linkOffline {
		size = sessionEntry
	}
	n := size * len(logins)
	if typ == linkSync {
		n++
	}
	dst = appendLinkHeader(dst, typ, n)
	if typ == linkSync {
		dst = append(dst, boolByte(last))
	}
	for _, l := range logins {
		dst = binary.BigEndian.AppendUint64(dst, l.uid)
		dst = binary.BigEndian.AppendUint64(dst, l.sid)
		if typ != linkOffline {
			dst = binary.BigEndian.AppendUint64(dst, uint64(l.at))
		}
	}
	return dst
}

func appendLinkRoute(dst []byte, origin uint32, epoch, req, msgID, from, to, sentTS uint64, payload []byte) []byte {
	dst = appendLinkHeader(dst, linkRoute, 52+len(payload))
	dst = binary.BigEndian.AppendUint32(dst, origin)
	for _, v := range [...]uint64{epoch, req, msgID, from, to, sentTS} {
		dst = binary.BigEndian.AppendUint64(dst, v)
	}
	return append(dst, payload...)
}

func appendLinkResult(dst []byte, origin uint32, req uint64, status uint8) []byte {
	dst = appendLinkHeader(dst, linkResult, 13)
	dst = binary.BigEndian.AppendUint32(dst, origin)
	dst = binary.BigEndian.AppendUint64(dst, req)
	return append(dst, status)
}

func appendLinkBroadcast(dst []byte, origin uint32, msgID, from, sentTS uint64, payload []byte) []byte {
	dst = appendLinkHeader(dst, linkBroadcast, 28+len(payload))
	dst = binary.BigEndian.AppendUint32(dst, origin)
	for _, v := range [...]uint64{msgID, from, sentTS} {
		dst = binary.BigEndian.AppendUint64(dst, v)
	}
	return append(dst, payload...)
}

// appendLinkLate appends a LATE frame of results.
func appendLinkLate(dst []byte, results []lateResult) []byte {
	dst = appendLinkHeader(dst, linkLate, lateEntry*len(results))
	for _, r := range results {
		dst = binary.BigEndian.AppendUint64(dst, r.epoch)
		dst = binary.BigEndian.AppendUint64(dst, r.req)
		dst = append(dst, r.status)
	}
	return dst
}

func appendLinkKick(dst []byte, uid, sid uint64) []byte {
	dst = appendLinkHeader(dst, linkKick, 16)
	dst = binary.BigEndian.AppendUint64(dst, uid)
	return binary.BigEndian.AppendUint64(dst, sid)
}

func appendLinkEmpty(dst []byte, typ byte) []byte { return appendLinkHeader(dst, typ, 0) }

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// linkReader reads link frames from a stream. The frame's byte fields alias
// its buffer until the next call.
type linkReader struct {
	r   *bufio.Reader
	buf []byte
}

func newLinkReader(r io.Reader) *linkReader {
	return &linkReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// buffered is how many bytes are read from the stream and not yet framed:
// 0 means the next frame is still in the kernel (or not sent).
func (lr *linkReader) buffered() int { return lr.r.Buffered() }

func (lr *linkReader) next() (linkFrame, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(lr.r, hdr[:]); err != nil {
		return linkFrame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > maxLinkFrame {
		return linkFrame{}, fmt.Errorf("%w: length %d", errLinkFrame, n)
	}
	if cap(lr.buf) < int(n-1) {
		lr.buf = make([]byte, n-1)
	}
	body := lr.buf[:n-1]
	if _, err := io.ReadFull(lr.r, body); err != nil {
		return linkFrame{}, err
	}
	return parseLinkFrame(hdr[4], body)
}

func parseLinkFrame(typ byte, b []byte) (linkFrame, error) {
	f := linkFrame{typ: typ}
	bad := fmt.Errorf("%w: type 0x%02x with %d body bytes", errLinkFrame, typ, len(b))
	u64 := func(i int) uint64 { return binary.BigEndian.Uint64(b[i:]) }
	switch typ {
	case linkHello:
		if len(b) < 10 || len(b) != 10+int(binary.BigEndian.Uint16(b[8:])) {
			return f, bad
		}
		f.epoch, f.id = u64(0), string(b[10:])
	case linkWelcome:
		if len(b) != 4 {
			return f, bad
		}
		f.origin = binary.BigEndian.Uint32(b)
	case linkSync, linkOnline, linkOffline:
		if typ == linkSync {
			if len(b) < 1 {
				return f, bad
			}
			f.last, b = b[0] == 1, b[1:]
		}
		size := loginEntry
		if typ == linkOffline {
			size = sessionEntry
		}
		if len(b)%size != 0 {
			return f, bad
		}
		f.entries = b
	case linkRoute:
		if len(b) < 52 {
			return f, bad
		}
		f.origin = binary.BigEndian.Uint32(b)
		f.epoch, f.req, f.msgID, f.from, f.to, f.sentTS = u64(4), u64(12), u64(20), u64(28), u64(36), u64(44)
		f.payload = b[52:]
	case linkResult:
		if len(b) != 13 {
			return f, bad
		}
		f.origin, f.req, f.status = binary.BigEndian.Uint32(b), u64(4), b[12]
	case linkBroadcast:
		if len(b) < 28 {
			return f, bad
		}
		f.origin = binary.BigEndian.Uint32(b)
		f.msgID, f.from, f.sentTS = u64(4), u64(12), u64(20)
		f.payload = b[28:]
	case linkLate:
		if len(b)%lateEntry != 0 {
			return f, bad
		}
		f.entries = b
	case linkKick:
		if len(b) != 16 {
			return f, bad
		}
		f.uid, f.sid = u64(0), u64(8)
	case linkPing, linkPong:
		if len(b) != 0 {
			return f, bad
		}
	default:
		return f, bad
	}
	return f, nil
}

// eachLogin calls fn for every entry of a SYNC or ONLINE frame.
func eachLogin(p []byte, fn func(login)) {
	for i := 0; i+loginEntry <= len(p); i += loginEntry {
		fn(login{binary.BigEndian.Uint64(p[i:]), binary.BigEndian.Uint64(p[i+8:]), int64(binary.BigEndian.Uint64(p[i+16:]))})
	}
}

// eachLate calls fn for every entry of a LATE frame.
func eachLate(p []byte, fn func(epoch, req uint64, status uint8)) {
	for i := 0; i+lateEntry <= len(p); i += lateEntry {
		fn(binary.BigEndian.Uint64(p[i:]), binary.BigEndian.Uint64(p[i+8:]), p[i+16])
	}
}

// eachSession calls fn for every entry of an OFFLINE frame.
func eachSession(p []byte, fn func(uid, sid uint64)) {
	for i := 0; i+sessionEntry <= len(p); i += sessionEntry {
		fn(binary.BigEndian.Uint64(p[i:]), binary.BigEndian.Uint64(p[i+8:]))
	}
}
