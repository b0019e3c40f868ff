package wire_test

import (
	"testing"

	"github.com/imtool/imtool/internal/wire"
)

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		in   []byte
	}{
		{"PING", wire.AppendPing(nil, 1)},
		{"SEND-64B", wire.AppendSend(nil, 1, 2, 3, make([]byte, 64))},
		{"LOGIN", wire.AppendLogin(nil, 1, make([]byte, 64))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.in)))
			for b.Loop() {
				f, n, err := wire.Decode(tc.in, 0)
				if err != nil || n != len(tc.in) || f.Type != tc.in[4] {
					b.Fatal(n, err)
				}
			}
		})
	}
}

func BenchmarkAppendPing(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = wire.AppendPing(buf[:0], 12345)
	}
}

func BenchmarkAppendSend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	payload := make([]byte, 64)
	for b.Loop() {
		buf = wire.AppendSend(buf[:0], 1, 2, 3, payload)
	}
}

// BenchmarkDecoder feeds 4 KiB reads of a stream of 64-byte SENDs, split at
// arbitrary points. The Decoder copies each read and releases its buffer when
// drained, so it allocates at most once per read, never per frame.
func BenchmarkDecoder(b *testing.B) {
	var stream []byte
	for len(stream) < 1<<20 {
		stream = wire.AppendSend(stream, 1, 2, 3, make([]byte, 64))
	}
	const read = 4096
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		d := wire.NewDecoder(0)
		frames := 0
		for off := 0; off < len(stream); off += read {
			d.Feed(stream[off:min(off+read, len(stream))])
			for {
				_, ok, err := d.Next()
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					break
				}
				frames++
			}
		}
		if d.Buffered() != 0 {
			b.Fatal("leftover")
		}
	}
}
