package mqtt

import "testing"

// BenchmarkParsePublish: the subscriber's hot path, one 5.0 PUBLISH at QoS
// 1 with a 64-byte payload; 0 allocs/op.
func BenchmarkParsePublish(b *testing.B) {
	pkt := AppendPublish(nil, V5, &Publish{Topic: []byte("devices/123/in"), Payload: make([]byte, 64), QoS: 1, PacketID: 77})
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := Parse(pkt, V5, 0); n != len(pkt) || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkParseAck: the publisher's hot path, a PUBACK; 0 allocs/op.
func BenchmarkParseAck(b *testing.B) {
	pkt := AppendAck(nil, V311, PUBACK, 77, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := Parse(pkt, V311, 0); n != 4 || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkAppendPublish builds a PUBLISH into a reused buffer; 0 allocs/op.
func BenchmarkAppendPublish(b *testing.B) {
	p := Publish{Topic: []byte("devices/123/in"), Payload: make([]byte, 64), QoS: 2, PacketID: 9}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPublish(buf[:0], V5, &p)
	}
}

// BenchmarkDecoderStream: a stream of PUBLISH packets fed in 1,000-byte
// reads that cut packets anywhere; 0 allocs/op once the buffer has grown.
func BenchmarkDecoderStream(b *testing.B) {
	var stream []byte
	for i := range 100 {
		stream = AppendPublish(stream, V311, &Publish{Topic: []byte("t/x"), Payload: make([]byte, 50+i), QoS: 1, PacketID: uint16(i + 1)})
	}
	d := Decoder{Version: V311}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(stream); off += 1000 {
			d.Feed(stream[off:min(off+1000, len(stream))])
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
}
