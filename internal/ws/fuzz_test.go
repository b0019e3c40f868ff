package ws_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/imtool/imtool/internal/ws"
)

type decoded struct {
	op   byte
	data []byte
}

func decodeAll(d *ws.Decoder) (out []decoded, err error) {
	for range 10000 {
		m, ok, err := d.Next()
		if err != nil || !ok {
			return out, err
		}
		out = append(out, decoded{m.Op, bytes.Clone(m.Data)})
	}
	return out, nil
}

// FuzzDecoder: any input, fed whole or in two pieces, decodes to the same
// messages and the same verdict, and every error is a *ws.Error with a
// close code to send; it never panics.
func FuzzDecoder(f *testing.F) {
	k := [4]byte{9, 8, 7, 6}
	f.Add(ws.AppendFrame(nil, ws.OpText, true, []byte("hi"), true, k), 1, true)
	f.Add(append(ws.AppendFrame(nil, ws.OpBinary, false, []byte{1, 2}, false, k), ws.AppendFrame(nil, ws.OpContinuation, true, make([]byte, 200), false, k)...), 3, false)
	f.Add(ws.AppendFrame(nil, ws.OpPing, true, []byte("p"), true, k), 0, true)
	f.Add(ws.AppendClose(nil, 1008, "policy", false, k), 2, false)
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, 4, false)
	f.Fuzz(func(t *testing.T, in []byte, cut int, server bool) {
		whole := ws.NewDecoder(4096, server)
		whole.Feed(bytes.Clone(in))
		a, errA := decodeAll(whole)
		cut = min(max(cut, 0), len(in))
		split := ws.NewDecoder(4096, server)
		split.Feed(bytes.Clone(in[:cut]))
		b, errB := decodeAll(split)
		split.Feed(bytes.Clone(in[cut:]))
		if errB == nil {
			var b2 []decoded
			b2, errB = decodeAll(split)
			b = append(b, b2...)
		}
		if (errA == nil) != (errB == nil) || len(a) != len(b) {
			t.Fatalf("whole: %d messages, %v; split at %d: %d, %v", len(a), errA, cut, len(b), errB)
		}
		for i := range a {
			if a[i].op != b[i].op || !bytes.Equal(a[i].data, b[i].data) {
				t.Fatalf("message %d differs when split at %d", i, cut)
			}
		}
		var we *ws.Error
		if errA != nil && (!errors.As(errA, &we) || we.Code < 1000) {
			t.Fatalf("error %v is not a ws.Error with a close code", errA)
		}
		for _, m := range a {
			if m.op == ws.OpClose {
				_, _, _ = ws.ParseClose(m.data)
			}
		}
	})
}

// FuzzHandshake: upgrade requests and responses of any shape are read
// without panicking, and a request ParseRequest accepts gets a 101 that
// CheckResponse-style parsing of its key would accept.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 401 Unauthorized\r\n\r\n"))
	h, _ := ws.NewHandshake("h", "/", nil, "")
	key := ws.NewKey(1, 1)
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = h.CheckResponse(in, &key)
		n, r, err := ws.ParseRequest(in)
		if err == nil && n > 0 {
			a := ws.Accept(r.Key)
			if len(r.Key) != 24 || len(a) != 28 {
				t.Fatalf("accepted key %q", r.Key)
			}
		}
	})
}
