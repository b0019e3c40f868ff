package ws_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/imtool/imtool/internal/ws"
)

// Lengths at every boundary of the three encodings round-trip, masked and
// not, and the header is as long as HeaderLen says.
func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 70000} {
		for _, masked := range []bool{false, true} {
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(i * 7)
			}
			key := [4]byte{0xde, 0xad, 0xbe, 0xef}
			b := ws.AppendFrame(nil, ws.OpBinary, true, p, masked, key)
			hlen := map[bool]int{false: 0, true: 4}[masked] + 2
			switch {
			case n > 0xFFFF:
				hlen += 8
			case n > 125:
				hlen += 2
			}
			if len(b) != hlen+n { // the shortest length encoding (§5.2)
				t.Fatalf("n=%d masked=%v: frame of %d bytes, want %d", n, masked, len(b), hlen+n)
			}
			for cut := 0; cut < len(b) && cut < 20; cut++ { // incomplete: need more
				if _, k, err := ws.NextFrame(b[:cut], 1<<20, masked); k != 0 || err != nil {
					t.Fatalf("n=%d: %d bytes of %d parsed as %d, %v", n, cut, len(b), k, err)
				}
			}
			f, k, err := ws.NextFrame(b, 1<<20, masked)
			if err != nil || k != len(b) || !f.Fin || f.Op != ws.OpBinary || !bytes.Equal(f.Payload, p) {
				t.Fatalf("n=%d masked=%v: %d bytes, fin %v op %x, equal %v, err %v", n, masked, k, f.Fin, f.Op, bytes.Equal(f.Payload, p), err)
			}
		}
	}
}

// The RFC 5.3 example: "Hello" masked with 37 fa 21 3d.
func TestMaskRFCExample(t *testing.T) {
	b := ws.AppendFrame(nil, ws.OpText, true, []byte("Hello"), true, [4]byte{0x37, 0xfa, 0x21, 0x3d})
	want := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x, want % x", b, want)
	}
	// Masking in pieces at any offset equals masking at once.
	p := bytes.Repeat([]byte("abcdefghij"), 10)
	whole := bytes.Clone(p)
	key := [4]byte{1, 2, 3, 4}
	ws.Mask(whole, key, 0)
	pos := 0
	for i := 0; i < len(p); i += 13 {
		pos = ws.Mask(p[i:min(i+13, len(p))], key, pos)
	}
	if !bytes.Equal(p, whole) {
		t.Fatal("masking in pieces differs from masking at once")
	}
}

// Each malformed header is refused with the close code to answer it.
func TestParseHeaderRefuses(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		code uint16
	}{
		{"reserved bit", []byte{0xC2, 0x00}, ws.CloseProtocolError},
		{"unknown opcode", []byte{0x83, 0x00}, ws.CloseProtocolError},
		{"fragmented ping", []byte{0x09, 0x00}, ws.CloseProtocolError},
		{"long close", []byte{0x88, 126, 0x00, 0x80}, ws.CloseProtocolError},
		{"16-bit form for 5", []byte{0x82, 126, 0x00, 0x05}, ws.CloseProtocolError},
		{"64-bit form for 300", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0x01, 0x2c}, ws.CloseProtocolError},
		{"64-bit MSB", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, ws.CloseProtocolError},
		{"over max", []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, ws.CloseMessageTooBig},
	}
	for _, c := range cases {
		_, _, err := ws.ParseHeader(c.b, 1<<20)
		var we *ws.Error
		if !errors.As(err, &we) || we.Code != c.code {
			t.Errorf("%s: got %v, want a ws.Error with close code %d", c.name, err, c.code)
		}
	}
	if _, _, err := ws.NextFrame(ws.AppendFrame(nil, ws.OpText, true, []byte("x"), true, [4]byte{1}), 100, false); err == nil {
		t.Error("a client accepted a masked frame")
	}
	if _, _, err := ws.NextFrame(ws.AppendFrame(nil, ws.OpText, true, []byte("x"), false, [4]byte{}), 100, true); err == nil {
		t.Error("a server accepted an unmasked frame")
	}
}

// Fragment order and UTF-8 are checked when messages are reassembled.
func TestDecoderRefuses(t *testing.T) {
	cases := []struct {
		name   string
		frames [][]byte
		code   uint16
	}{
		{"continuation first", [][]byte{ws.AppendFrame(nil, ws.OpContinuation, true, []byte("x"), false, [4]byte{})}, ws.CloseProtocolError},
		{"text inside binary", [][]byte{
			ws.AppendFrame(nil, ws.OpBinary, false, []byte("x"), false, [4]byte{}),
			ws.AppendFrame(nil, ws.OpText, true, []byte("y"), false, [4]byte{})}, ws.CloseProtocolError},
		{"bad UTF-8", [][]byte{ws.AppendFrame(nil, ws.OpText, true, []byte{0xff, 0xfe}, false, [4]byte{})}, ws.CloseInvalidData},
		{"fragments over max", [][]byte{
			ws.AppendFrame(nil, ws.OpBinary, false, make([]byte, 60), false, [4]byte{}),
			ws.AppendFrame(nil, ws.OpContinuation, true, make([]byte, 60), false, [4]byte{})}, ws.CloseMessageTooBig},
	}
	for _, c := range cases {
		d := ws.NewDecoder(100, false)
		for _, f := range c.frames {
			d.Feed(f)
		}
		var err error
		for range 4 {
			if _, _, err = d.Next(); err != nil {
				break
			}
		}
		var we *ws.Error
		if !errors.As(err, &we) || we.Code != c.code {
			t.Errorf("%s: got %v, want close code %d", c.name, err, c.code)
		}
	}
}

func TestParseClose(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		code uint16
		ok   bool
	}{
		{nil, ws.CloseNoStatus, true},
		{[]byte{0x03}, 0, false},
		{[]byte{0x03, 0xf0}, 1008, true},
		{[]byte{0x03, 0xed}, 1005, false}, // 1005 is never sent
		{[]byte{0x03, 0xe7}, 999, false},
		{[]byte{0x0f, 0xa0}, 4000, true},
		{[]byte{0x03, 0xe8, 0xff}, 1000, false}, // reason not UTF-8
	} {
		code, _, err := ws.ParseClose(c.p)
		if (err == nil) != c.ok || (c.ok && code != c.code) {
			t.Errorf("% x: code %d err %v; want code %d ok %v", c.p, code, err, c.code, c.ok)
		}
	}
}
