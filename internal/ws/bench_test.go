package ws_test

import (
	"testing"

	"github.com/imtool/imtool/internal/placeholder"
	"github.com/imtool/imtool/internal/ws"
)

// go test -bench . -benchmem ./internal/ws: every hot path is 0 allocs/op.

func BenchmarkAppendFrameMasked(b *testing.B) {
	p := make([]byte, 64)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = ws.AppendFrame(buf[:0], ws.OpBinary, true, p, true, [4]byte{1, 2, 3, byte(i)})
	}
}

func BenchmarkNextFrame(b *testing.B) {
	frame := ws.AppendFrame(nil, ws.OpBinary, true, make([]byte, 64), true, [4]byte{1, 2, 3, 4})
	buf := make([]byte, len(frame))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		copy(buf, frame)
		if _, n, err := ws.NextFrame(buf, 1<<20, true); n == 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkDecoder(b *testing.B) {
	var stream []byte
	for range 16 {
		stream = ws.AppendFrame(stream, ws.OpBinary, true, make([]byte, 40), false, [4]byte{})
		stream = ws.AppendFrame(stream, ws.OpPong, true, make([]byte, 8), false, [4]byte{})
	}
	d := ws.NewDecoder(1<<20, false)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for i := 0; i < b.N; i++ {
		d.Feed(stream[:len(stream)/3])
		d.Feed(stream[len(stream)/3:])
		for {
			_, ok, err := d.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}

func BenchmarkHandshake(b *testing.B) {
	h, _ := ws.NewHandshake("127.0.0.1:9000", "/ws?u={uid}", []string{"Authorization: Bearer {uid}"}, "")
	buf := make([]byte, 0, 512)
	v := placeholder.Values{UID: 12345, I: 7}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		key := ws.NewKey(uint64(i), 99)
		buf = h.AppendRequest(buf[:0], &v, &key)
		a := ws.Accept(key[:])
		buf = append(buf[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
		buf = append(buf, a[:]...)
		buf = append(buf, "\r\n\r\n"...)
		if _, err := h.CheckResponse(buf, &key); err != nil {
			b.Fatal(err)
		}
	}
}
