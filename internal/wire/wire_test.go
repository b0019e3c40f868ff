package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/wire"
)

// equalFrame compares frames field by field, treating nil and empty byte
// slices as equal (a decoded empty payload is an empty slice of the input).
func equalFrame(a, b wire.Frame) bool {
	return a.Type == b.Type && a.UID == b.UID && a.SessionID == b.SessionID &&
		a.ServerMs == b.ServerMs && a.TS == b.TS && a.MsgID == b.MsgID &&
		a.ToUID == b.ToUID && a.FromUID == b.FromUID && a.SentTS == b.SentTS &&
		a.Status == b.Status && a.Code == b.Code &&
		bytes.Equal(a.Token, b.Token) && bytes.Equal(a.Payload, b.Payload) &&
		bytes.Equal(a.Reason, b.Reason)
}

// cloneFrame copies the byte fields, which alias the decoder's memory.
func cloneFrame(f wire.Frame) wire.Frame {
	f.Token = bytes.Clone(f.Token)
	f.Payload = bytes.Clone(f.Payload)
	f.Reason = bytes.Clone(f.Reason)
	return f
}

func fmtFrame(f wire.Frame) string {
	return fmt.Sprintf("%s%+v", wire.TypeName(f.Type), f)
}

// raw builds a frame by hand: length = 1 + len(body).
func raw(typ byte, body ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)+1))
	return append(append(b, typ), body...)
}

// rawLen builds a frame header with an explicit length, followed by body.
func rawLen(length uint32, typ byte, body ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	return append(append(b, typ), body...)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

const big = 0x0102030405060708

// roundTrips lists one or more frames of every type, with the exact bytes
// each must encode to.
var roundTrips = []struct {
	name  string
	frame wire.Frame
	wire  []byte
}{
	{"login", wire.Frame{Type: wire.TypeLogin, UID: 42, Token: []byte("abc")},
		raw(0x01, cat(u64(42), u16(3), []byte("abc"))...)},
	{"login_empty_token", wire.Frame{Type: wire.TypeLogin, UID: big},
		raw(0x01, cat(u64(big), u16(0))...)},
	{"login_ok", wire.Frame{Type: wire.TypeLoginOK, UID: 7, SessionID: 1 << 63, ServerMs: 1700000000000},
		raw(0x02, cat(u64(7), u64(1<<63), u64(1700000000000))...)},
	{"ping", wire.Frame{Type: wire.TypePing, TS: big}, raw(0x03, u64(big)...)},
	{"ping_zero", wire.Frame{Type: wire.TypePing}, raw(0x03, u64(0)...)},
	{"pong", wire.Frame{Type: wire.TypePong, TS: ^uint64(0)}, raw(0x04, u64(^uint64(0))...)},
	{"send", wire.Frame{Type: wire.TypeSend, MsgID: 1, ToUID: 2, SentTS: 3, Payload: []byte("hello")},
		raw(0x05, cat(u64(1), u64(2), u64(3), []byte("hello"))...)},
	{"send_empty", wire.Frame{Type: wire.TypeSend, MsgID: 1, ToUID: 2, SentTS: 3},
		raw(0x05, cat(u64(1), u64(2), u64(3))...)},
	{"ack", wire.Frame{Type: wire.TypeAck, MsgID: big, Status: wire.AckRateLimited},
		raw(0x06, cat(u64(big), []byte{3})...)},
	{"ack_unknown_status", wire.Frame{Type: wire.TypeAck, MsgID: 9, Status: 200},
		raw(0x06, cat(u64(9), []byte{200})...)},
	{"deliver", wire.Frame{Type: wire.TypeDeliver, MsgID: 4, FromUID: 5, SentTS: 6, Payload: []byte{0, 1, 2, 0xff}},
		raw(0x07, cat(u64(4), u64(5), u64(6), []byte{0, 1, 2, 0xff})...)},
	{"broadcast", wire.Frame{Type: wire.TypeBroadcast, MsgID: 8, SentTS: 9, Payload: []byte("all")},
		raw(0x08, cat(u64(8), u64(9), []byte("all"))...)},
	{"broadcast_empty", wire.Frame{Type: wire.TypeBroadcast, MsgID: 8, SentTS: 9},
		raw(0x08, cat(u64(8), u64(9))...)},
	{"logout", wire.Frame{Type: wire.TypeLogout}, raw(0x09)},
	{"error", wire.Frame{Type: wire.TypeError, Code: wire.CodeIdleTimeout, Reason: []byte("idle for 90s")},
		raw(0x0A, cat(u16(7), u16(12), []byte("idle for 90s"))...)},
	{"error_empty_reason", wire.Frame{Type: wire.TypeError, Code: 0xffff},
		raw(0x0A, cat(u16(0xffff), u16(0))...)},
	{"kick", wire.Frame{Type: wire.TypeKick, Code: wire.CodeDuplicateLogin}, raw(0x0B, u16(8)...)},
}

func TestRoundTrip(t *testing.T) {
	seen := map[byte]bool{}
	for _, tc := range roundTrips {
		t.Run(tc.name, func(t *testing.T) {
			seen[tc.frame.Type] = true
			enc := wire.Append(nil, tc.frame)
			if !bytes.Equal(enc, tc.wire) {
				t.Fatalf("Append = % x\nwant     % x", enc, tc.wire)
			}
			if got := wire.FrameLen(tc.frame.Type, len(tc.frame.Token)+len(tc.frame.Payload)+len(tc.frame.Reason)); got != len(enc) {
				t.Errorf("FrameLen = %d, want %d", got, len(enc))
			}
			// Append must append, keeping what dst held.
			prefixed := wire.Append([]byte("xyz"), tc.frame)
			if !bytes.Equal(prefixed[:3], []byte("xyz")) || !bytes.Equal(prefixed[3:], enc) {
				t.Errorf("Append to a non-empty dst = % x", prefixed)
			}
			// Trailing bytes (the start of another frame) must not matter.
			in := append(bytes.Clone(enc), 0, 0, 0)
			f, n, err := wire.Decode(in, 0)
			if err != nil || n != len(enc) {
				t.Fatalf("Decode = n %d, err %v; want n %d", n, err, len(enc))
			}
			if !equalFrame(f, tc.frame) {
				t.Fatalf("Decode = %s\nwant     %s", fmtFrame(f), fmtFrame(tc.frame))
			}
			f2, err := wire.ParseBody(enc[4], enc[5:])
			if err != nil || !equalFrame(f2, tc.frame) {
				t.Errorf("ParseBody = %s, %v", fmtFrame(f2), err)
			}
			// Every proper prefix is incomplete, never an error.
			for k := 0; k < len(enc); k++ {
				if _, n, err := wire.Decode(enc[:k], 0); n != 0 || err != nil {
					t.Fatalf("Decode(first %d of %d bytes) = n %d, err %v; want 0, nil", k, len(enc), n, err)
				}
			}
			// A maximum of exactly the frame's length admits it.
			if _, n, err := wire.Decode(enc, len(enc)-4); err != nil || n != len(enc) {
				t.Errorf("Decode with max = length: n %d, err %v", n, err)
			}
		})
	}
	for typ := wire.TypeLogin; typ <= wire.TypeKick; typ++ {
		if !seen[typ] {
			t.Errorf("no round-trip case for %s", wire.TypeName(typ))
		}
	}
}

// TestTypedEncoders checks the per-type encoders against Append.
func TestTypedEncoders(t *testing.T) {
	p := []byte("payload")
	cases := []struct {
		got  []byte
		want wire.Frame
	}{
		{wire.AppendLogin(nil, 1, []byte("tok")), wire.Frame{Type: wire.TypeLogin, UID: 1, Token: []byte("tok")}},
		{wire.AppendLoginOK(nil, 1, 2, 3), wire.Frame{Type: wire.TypeLoginOK, UID: 1, SessionID: 2, ServerMs: 3}},
		{wire.AppendPing(nil, 5), wire.Frame{Type: wire.TypePing, TS: 5}},
		{wire.AppendPong(nil, 5), wire.Frame{Type: wire.TypePong, TS: 5}},
		{wire.AppendSend(nil, 1, 2, 3, p), wire.Frame{Type: wire.TypeSend, MsgID: 1, ToUID: 2, SentTS: 3, Payload: p}},
		{wire.AppendAck(nil, 1, wire.AckOffline), wire.Frame{Type: wire.TypeAck, MsgID: 1, Status: 1}},
		{wire.AppendDeliver(nil, 1, 2, 3, p), wire.Frame{Type: wire.TypeDeliver, MsgID: 1, FromUID: 2, SentTS: 3, Payload: p}},
		{wire.AppendBroadcast(nil, 1, 3, p), wire.Frame{Type: wire.TypeBroadcast, MsgID: 1, SentTS: 3, Payload: p}},
		{wire.AppendLogout(nil), wire.Frame{Type: wire.TypeLogout}},
		{wire.AppendError(nil, 9, "bye"), wire.Frame{Type: wire.TypeError, Code: 9, Reason: []byte("bye")}},
		{wire.AppendKick(nil, 8), wire.Frame{Type: wire.TypeKick, Code: 8}},
	}
	for _, tc := range cases {
		if want := wire.Append(nil, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s: % x, want % x", wire.TypeName(tc.want.Type), tc.got, want)
		}
	}
}

func TestAppendErrorLongReason(t *testing.T) {
	// 65534 ASCII bytes then a 3-byte character: the cut must not split it.
	reason := strings.Repeat("a", 65534) + "€"
	enc := wire.AppendError(nil, 1, reason)
	f, n, err := wire.Decode(enc, 1<<20)
	if err != nil || n != len(enc) {
		t.Fatalf("Decode: n %d, err %v", n, err)
	}
	if string(f.Reason) != reason[:65534] {
		t.Errorf("reason cut to %d bytes, want 65534", len(f.Reason))
	}
}

func TestAppendPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"unknown type": func() { wire.Append(nil, wire.Frame{Type: 0x0C}) },
		"long token":   func() { wire.AppendLogin(nil, 1, make([]byte, 65536)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}

func TestDecodeErrors(t *testing.T) {
	login := func(tokenLen uint16, token string) []byte {
		return raw(0x01, cat(u64(1), u16(tokenLen), []byte(token))...)
	}
	errFrame := func(reasonLen uint16, reason string) []byte {
		return raw(0x0A, cat(u16(1), u16(reasonLen), []byte(reason))...)
	}
	cases := []struct {
		name string
		in   []byte
		max  int
		code uint16
		msg  string // exact message when set
		// early is how many bytes of in suffice to detect the error; every
		// shorter prefix must be reported as incomplete (0, nil).
		early int
	}{
		{name: "zero length", in: []byte{0, 0, 0, 0}, code: wire.CodeBadFrame, early: 4},
		{name: "zero length with type", in: []byte{0, 0, 0, 0, 3}, code: wire.CodeBadFrame, early: 4},
		{name: "oversize from header alone", in: rawLen(70000, 0x05), code: wire.CodeTooLarge, early: 4,
			msg: "frame length 70000 over the maximum 65536 (--max-frame)"},
		{name: "oversize max u32", in: []byte{0xff, 0xff, 0xff, 0xff}, code: wire.CodeTooLarge, early: 4},
		{name: "oversize custom max", in: wire.AppendSend(nil, 1, 2, 3, make([]byte, 100)), max: 124,
			code: wire.CodeTooLarge, early: 4, msg: "frame length 125 over the maximum 124 (--max-frame)"},
		{name: "oversize beats unknown type", in: rawLen(65537, 0xEE), code: wire.CodeTooLarge, early: 4},
		{name: "unknown type 0x00", in: raw(0x00, 1, 2, 3), code: wire.CodeUnknownType, early: 5,
			msg: "unknown frame type 0x00"},
		{name: "unknown type 0x0c", in: raw(0x0C), code: wire.CodeUnknownType, early: 5,
			msg: "unknown frame type 0x0c"},
		{name: "unknown type 0xff before body", in: rawLen(1000, 0xFF), code: wire.CodeUnknownType, early: 5},

		// Fixed layouts: one byte short and one byte over.
		{name: "LOGIN_OK truncated", in: raw(0x02, make([]byte, 23)...), code: wire.CodeBadFrame, early: 5,
			msg: "LOGIN_OK body is 23 bytes, want 24"},
		{name: "LOGIN_OK extra", in: raw(0x02, make([]byte, 25)...), code: wire.CodeBadFrame, early: 5},
		{name: "PING truncated", in: raw(0x03, make([]byte, 7)...), code: wire.CodeBadFrame, early: 5},
		{name: "PING extra", in: raw(0x03, make([]byte, 9)...), code: wire.CodeBadFrame, early: 5,
			msg: "PING body is 9 bytes, want 8"},
		{name: "PONG truncated", in: raw(0x04, make([]byte, 7)...), code: wire.CodeBadFrame, early: 5},
		{name: "PONG extra", in: raw(0x04, make([]byte, 9)...), code: wire.CodeBadFrame, early: 5},
		{name: "ACK truncated", in: raw(0x06, make([]byte, 8)...), code: wire.CodeBadFrame, early: 5},
		{name: "ACK extra", in: raw(0x06, make([]byte, 10)...), code: wire.CodeBadFrame, early: 5},
		{name: "LOGOUT extra", in: raw(0x09, 0), code: wire.CodeBadFrame, early: 5,
			msg: "LOGOUT body is 1 bytes, want 0"},
		{name: "KICK truncated", in: raw(0x0B, 0), code: wire.CodeBadFrame, early: 5},
		{name: "KICK extra", in: raw(0x0B, 0, 1, 2), code: wire.CodeBadFrame, early: 5},
		{name: "KICK empty", in: raw(0x0B), code: wire.CodeBadFrame, early: 5},

		// Variable layouts shorter than their fixed part.
		{name: "SEND truncated", in: raw(0x05, make([]byte, 23)...), code: wire.CodeBadFrame, early: 5,
			msg: "SEND body is 23 bytes, want at least 24"},
		{name: "DELIVER truncated", in: raw(0x07, make([]byte, 23)...), code: wire.CodeBadFrame, early: 5},
		{name: "BROADCAST truncated", in: raw(0x08, make([]byte, 15)...), code: wire.CodeBadFrame, early: 5},
		{name: "LOGIN truncated", in: raw(0x01, make([]byte, 9)...), code: wire.CodeBadFrame, early: 5},
		{name: "LOGIN empty", in: raw(0x01), code: wire.CodeBadFrame, early: 5},
		{name: "ERROR truncated", in: raw(0x0A, 0, 1, 0), code: wire.CodeBadFrame, early: 5},

		// Length prefixes that do not match the bytes that follow: detected
		// as soon as the prefix is in, before the rest of the body.
		{name: "token_len over", in: login(4, "abc"), code: wire.CodeBadFrame, early: 15,
			msg: "LOGIN token_len is 4 but 3 bytes follow it"},
		{name: "token_len under", in: login(2, "abc"), code: wire.CodeBadFrame, early: 15},
		{name: "token_len on empty token", in: login(1, ""), code: wire.CodeBadFrame, early: 15},
		{name: "reason_len over", in: errFrame(10, "short"), code: wire.CodeBadFrame, early: 9,
			msg: "ERROR reason_len is 10 but 5 bytes follow it"},
		{name: "reason_len under", in: errFrame(0, "x"), code: wire.CodeBadFrame, early: 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(what string, err error) *wire.Error {
				t.Helper()
				var we *wire.Error
				if !errors.As(err, &we) {
					t.Fatalf("%s: error %v (%T), want *wire.Error", what, err, err)
				}
				if we.Code != tc.code {
					t.Fatalf("%s: code %s (%q), want %s", what, wire.CodeName(we.Code), we.Msg, wire.CodeName(tc.code))
				}
				if tc.msg != "" && we.Msg != tc.msg {
					t.Errorf("%s: message %q, want %q", what, we.Msg, tc.msg)
				}
				return we
			}
			_, n, err := wire.Decode(tc.in, tc.max)
			if n != 0 {
				t.Errorf("n = %d on error", n)
			}
			full := check("whole input", err)
			for k := 0; k <= len(tc.in); k++ {
				_, n, err := wire.Decode(tc.in[:k], tc.max)
				if n != 0 {
					t.Fatalf("first %d bytes: n = %d", k, n)
				}
				if k < tc.early {
					if err != nil {
						t.Fatalf("first %d bytes: error %v; want it only from %d bytes", k, err, tc.early)
					}
					continue
				}
				if we := check(fmt.Sprintf("first %d bytes", k), err); *we != *full {
					t.Fatalf("first %d bytes: %v; the whole input gives %v", k, we, full)
				}
			}
			// ParseBody agrees when the header itself is acceptable.
			if len(tc.in) >= 5 && tc.code != wire.CodeTooLarge && binary.BigEndian.Uint32(tc.in) == uint32(len(tc.in)-4) {
				_, err := wire.ParseBody(tc.in[4], tc.in[5:])
				check("ParseBody", err)
			}
			if !strings.HasPrefix(full.Error(), "wire: "+wire.CodeName(tc.code)+": ") {
				t.Errorf("Error() = %q", full.Error())
			}
		})
	}
}

func TestNames(t *testing.T) {
	types := map[byte]string{
		0x01: "LOGIN", 0x02: "LOGIN_OK", 0x03: "PING", 0x04: "PONG", 0x05: "SEND", 0x06: "ACK",
		0x07: "DELIVER", 0x08: "BROADCAST", 0x09: "LOGOUT", 0x0A: "ERROR", 0x0B: "KICK",
		0x00: "0x00", 0x0C: "0x0c", 0xAB: "0xab", 0xFF: "0xff",
	}
	for typ, want := range types {
		if got := wire.TypeName(typ); got != want {
			t.Errorf("TypeName(%#x) = %q, want %q", typ, got, want)
		}
	}
	codes := map[uint16]string{
		1: "bad_frame", 2: "too_large", 3: "unknown_type", 4: "not_logged_in", 5: "login_rejected",
		6: "login_timeout", 7: "idle_timeout", 8: "duplicate_login", 9: "shutting_down", 10: "server_full",
		0: "code_0", 11: "code_11", 65535: "code_65535",
	}
	for c, want := range codes {
		if got := wire.CodeName(c); got != want {
			t.Errorf("CodeName(%d) = %q, want %q", c, got, want)
		}
	}
	acks := map[uint8]string{
		0: "delivered", 1: "offline", 2: "route_unavailable", 3: "rate_limited", 4: "too_large",
		5: "not_allowed", 6: "status_6", 255: "status_255",
	}
	for s, want := range acks {
		if got := wire.AckName(s); got != want {
			t.Errorf("AckName(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestFrameLenAndMaxVarLen(t *testing.T) {
	cases := []struct {
		typ      byte
		varLen   int
		frameLen int
		maxVar   int // MaxVarLen(typ, DefaultMaxFrame)
	}{
		{wire.TypeLogin, 3, 4 + 1 + 10 + 3, 65536 - 11},
		{wire.TypeLoginOK, 99, 4 + 1 + 24, 0},
		{wire.TypePing, 0, 13, 0},
		{wire.TypePong, 0, 13, 0},
		{wire.TypeSend, 100, 4 + 1 + 24 + 100, 65536 - 25},
		{wire.TypeAck, 0, 4 + 1 + 9, 0},
		{wire.TypeDeliver, 100, 4 + 1 + 24 + 100, 65536 - 25},
		{wire.TypeBroadcast, 100, 4 + 1 + 16 + 100, 65536 - 17},
		{wire.TypeLogout, 0, 5, 0},
		{wire.TypeError, 5, 4 + 1 + 4 + 5, 65536 - 5},
		{wire.TypeKick, 0, 4 + 1 + 2, 0},
		{0x0C, 0, -1, -1},
	}
	for _, tc := range cases {
		if got := wire.FrameLen(tc.typ, tc.varLen); got != tc.frameLen {
			t.Errorf("FrameLen(%s, %d) = %d, want %d", wire.TypeName(tc.typ), tc.varLen, got, tc.frameLen)
		}
		if got := wire.MaxVarLen(tc.typ, 0); got != tc.maxVar {
			t.Errorf("MaxVarLen(%s) = %d, want %d", wire.TypeName(tc.typ), got, tc.maxVar)
		}
	}
	// The largest SEND payload fits exactly; one more byte does not.
	n := wire.MaxVarLen(wire.TypeSend, 1000)
	if _, _, err := wire.Decode(wire.AppendSend(nil, 1, 2, 3, make([]byte, n)), 1000); err != nil {
		t.Errorf("SEND of MaxVarLen payload: %v", err)
	}
	if _, _, err := wire.Decode(wire.AppendSend(nil, 1, 2, 3, make([]byte, n+1)), 1000); err == nil {
		t.Errorf("SEND of MaxVarLen+1 payload decoded")
	}
	// Under a larger maximum the u16 prefixes are the limit.
	if a, b := wire.MaxVarLen(wire.TypeLogin, 1<<20), wire.MaxVarLen(wire.TypeError, 1<<20); a != 65535 || b != 65535 {
		t.Errorf("MaxVarLen(LOGIN, ERROR; 1 MiB) = %d, %d; want 65535", a, b)
	}
	if got := wire.MaxVarLen(wire.TypeSend, 10); got != 0 {
		t.Errorf("MaxVarLen under the fixed part = %d, want 0", got)
	}
}

// testStream returns count random frames of every type and their encoding.
func testStream(r *rand.Rand, count int) ([]wire.Frame, []byte) {
	bs := func(max int) []byte {
		b := make([]byte, r.IntN(max+1))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	var frames []wire.Frame
	var stream []byte
	for i := 0; i < count; i++ {
		var f wire.Frame
		switch typ := byte(1 + i%11); typ {
		case wire.TypeLogin:
			f = wire.Frame{Type: typ, UID: r.Uint64(), Token: bs(64)}
		case wire.TypeLoginOK:
			f = wire.Frame{Type: typ, UID: r.Uint64(), SessionID: r.Uint64(), ServerMs: r.Uint64()}
		case wire.TypePing, wire.TypePong:
			f = wire.Frame{Type: typ, TS: r.Uint64()}
		case wire.TypeSend:
			f = wire.Frame{Type: typ, MsgID: r.Uint64(), ToUID: r.Uint64(), SentTS: r.Uint64(), Payload: bs(300)}
		case wire.TypeAck:
			f = wire.Frame{Type: typ, MsgID: r.Uint64(), Status: uint8(r.Uint32())}
		case wire.TypeDeliver:
			f = wire.Frame{Type: typ, MsgID: r.Uint64(), FromUID: r.Uint64(), SentTS: r.Uint64(), Payload: bs(300)}
		case wire.TypeBroadcast:
			f = wire.Frame{Type: typ, MsgID: r.Uint64(), SentTS: r.Uint64(), Payload: bs(300)}
		case wire.TypeLogout:
			f = wire.Frame{Type: typ}
		case wire.TypeError:
			f = wire.Frame{Type: typ, Code: uint16(r.Uint32()), Reason: bs(40)}
		case wire.TypeKick:
			f = wire.Frame{Type: typ, Code: uint16(r.Uint32())}
		}
		frames = append(frames, f)
		stream = wire.Append(stream, f)
	}
	return frames, stream
}

// feedChunks feeds stream to d in chunks of the sizes next returns and
// collects the frames. Frames of one batch (between Feeds) are checked to
// stay intact until the batch ends, then copied.
func feedChunks(t *testing.T, d *wire.Decoder, stream []byte, next func() int) []wire.Frame {
	t.Helper()
	var out []wire.Frame
	for len(stream) > 0 {
		n := min(next(), len(stream))
		chunk := bytes.Clone(stream[:n])
		d.Feed(chunk)
		clear(chunk) // Feed must have copied it
		stream = stream[n:]
		var batch, copies []wire.Frame
		for {
			f, ok, err := d.Next()
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if !ok {
				break
			}
			batch = append(batch, f)
			copies = append(copies, cloneFrame(f))
		}
		for i := range batch {
			if !equalFrame(batch[i], copies[i]) {
				t.Fatalf("frame %s changed before the next Feed", fmtFrame(copies[i]))
			}
		}
		out = append(out, copies...)
	}
	return out
}

func compareFrames(t *testing.T, got, want []wire.Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !equalFrame(got[i], want[i]) {
			t.Fatalf("frame %d = %s\nwant %s", i, fmtFrame(got[i]), fmtFrame(want[i]))
		}
	}
}

func TestDecoderSplitReads(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	want, stream := testStream(r, 500)
	cases := []struct {
		name string
		next func() int
	}{
		{"one byte at a time", func() int { return 1 }},
		{"random 1..16", func() int { return 1 + r.IntN(16) }},
		{"random 1..1000", func() int { return 1 + r.IntN(1000) }},
		{"random 1..20000", func() int { return 1 + r.IntN(20000) }},
		{"header-sized", func() int { return wire.HeaderLen }},
		{"all in one Feed", func() int { return len(stream) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := wire.NewDecoder(0)
			got := feedChunks(t, d, stream, tc.next)
			compareFrames(t, got, want)
			if d.Buffered() != 0 {
				t.Errorf("Buffered = %d after the whole stream", d.Buffered())
			}
		})
	}
}

func TestDecoderSeveralFramesInOneFeed(t *testing.T) {
	d := wire.NewDecoder(0)
	var in []byte
	in = wire.AppendPing(in, 1)
	in = wire.AppendSend(in, 2, 3, 4, []byte("x"))
	in = wire.AppendLogout(in)
	partial := wire.AppendPong(nil, 5)
	in = append(in, partial[:7]...)
	d.Feed(in)
	var types []string
	for {
		f, ok, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		types = append(types, wire.TypeName(f.Type))
	}
	if got := strings.Join(types, ","); got != "PING,SEND,LOGOUT" {
		t.Fatalf("frames %s", got)
	}
	if d.Buffered() != 7 {
		t.Fatalf("Buffered = %d, want 7", d.Buffered())
	}
	// Asking again changes nothing.
	if _, ok, err := d.Next(); ok || err != nil {
		t.Fatalf("Next on a partial frame: %v %v", ok, err)
	}
	d.Feed(partial[7:])
	f, ok, err := d.Next()
	if !ok || err != nil || f.Type != wire.TypePong || f.TS != 5 {
		t.Fatalf("completed frame: %s %v %v", fmtFrame(f), ok, err)
	}
	if d.Buffered() != 0 {
		t.Fatalf("Buffered = %d, want 0", d.Buffered())
	}
}

func TestDecoderStickyError(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  []byte
		code uint16
	}{
		{"zero length", []byte{0, 0, 0, 0}, wire.CodeBadFrame},
		{"too large", rawLen(1<<20, 0x05), wire.CodeTooLarge},
		{"unknown type", raw(0x42), wire.CodeUnknownType},
		{"bad body", raw(0x03, 1, 2), wire.CodeBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := wire.NewDecoder(0)
			var in []byte
			in = wire.AppendPing(in, 1)
			in = append(in, tc.bad...)
			in = wire.AppendPing(in, 2)
			d.Feed(in)
			if f, ok, err := d.Next(); !ok || err != nil || f.TS != 1 {
				t.Fatalf("first frame: %v %v", ok, err)
			}
			_, ok, err := d.Next()
			var we *wire.Error
			if ok || !errors.As(err, &we) || we.Code != tc.code {
				t.Fatalf("Next = %v, %v; want code %d", ok, err, tc.code)
			}
			for i := 0; i < 3; i++ {
				d.Feed(wire.AppendPing(nil, 3))
				if _, ok, err2 := d.Next(); ok || err2 != err {
					t.Fatalf("after the error: %v, %v; want the same error", ok, err2)
				}
			}
			if d.Err() != err || d.Buffered() != 0 {
				t.Errorf("Err = %v, Buffered = %d", d.Err(), d.Buffered())
			}
		})
	}
}

// TestDecoderEarlyReject: an oversize header is rejected from its 4 bytes,
// not after the decoder has buffered the announced body.
func TestDecoderEarlyReject(t *testing.T) {
	d := wire.NewDecoder(1024)
	d.Feed([]byte{0, 0, 0x04})
	if _, ok, err := d.Next(); ok || err != nil {
		t.Fatalf("3 bytes: %v %v", ok, err)
	}
	d.Feed([]byte{0x01}) // length 1025
	_, _, err := d.Next()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeTooLarge {
		t.Fatalf("err = %v, want too_large", err)
	}
	if want := "frame length 1025 over the maximum 1024 (--max-frame)"; we.Msg != want {
		t.Errorf("Msg = %q, want %q", we.Msg, want)
	}
}

func TestNoAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	payload := make([]byte, 100)
	send := wire.AppendSend(nil, 1, 2, 3, payload)
	login := wire.AppendLogin(nil, 1, []byte("token"))
	cases := map[string]func(){
		"AppendPing":      func() { buf = wire.AppendPing(buf[:0], 1) },
		"AppendSend":      func() { buf = wire.AppendSend(buf[:0], 1, 2, 3, payload) },
		"AppendDeliver":   func() { buf = wire.AppendDeliver(buf[:0], 1, 2, 3, payload) },
		"AppendError":     func() { buf = wire.AppendError(buf[:0], 1, "reason") },
		"Append(ERROR)":   func() { buf = wire.Append(buf[:0], wire.Frame{Type: wire.TypeError, Reason: payload}) },
		"Append(LOGIN)":   func() { buf = wire.Append(buf[:0], wire.Frame{Type: wire.TypeLogin, Token: payload}) },
		"Decode(SEND)":    func() { _, _, _ = wire.Decode(send, 0) },
		"Decode(LOGIN)":   func() { _, _, _ = wire.Decode(login, 0) },
		"Decode(partial)": func() { _, _, _ = wire.Decode(send[:50], 0) },
		"ParseBody(SEND)": func() { _, _ = wire.ParseBody(send[4], send[5:]) },
	}
	for name, fn := range cases {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}
