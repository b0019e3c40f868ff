package mqtt

import (
	"bytes"
	"testing"
)

// FuzzParse: any bytes, parsed as 3.1.1 or 5.0, never panic; an error is
// an *Error; a packet parsed from a prefix of the input is the same packet
// when more bytes follow (the decoder's split reads rely on it), and n
// never exceeds the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 0}, true)
	f.Add([]byte{0x20, 7, 0, 0x86, 4, 0x21, 0, 10, 0}, false)
	f.Add(AppendPublish(nil, V5, &Publish{Topic: []byte("a/b"), Payload: []byte("p"), QoS: 2, PacketID: 3}), false)
	f.Add([]byte{0x90, 3, 0, 1, 0x80}, true)
	f.Add([]byte{0xE0, 4, 0x8E, 2, 0x1F, 0}, false)
	f.Add([]byte{0x62, 2, 0, 1, 0xD0, 0}, true)
	f.Fuzz(func(t *testing.T, in []byte, v311 bool) {
		v := V5
		if v311 {
			v = V311
		}
		p, n, err := Parse(in, v, 1<<16)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if n > len(in) {
			t.Fatalf("n %d > %d", n, len(in))
		}
		if n == 0 {
			return
		}
		q, m, err := Parse(append(bytes.Clone(in[:n]), 0xC0, 0), v, 1<<16)
		if err != nil || m != n || q.Type != p.Type || q.PacketID != p.PacketID || !bytes.Equal(q.Payload, p.Payload) {
			t.Fatalf("prefix parse differs: %+v %d %v vs %+v %d", q, m, err, p, n)
		}
		if p.Type == CONNECT {
			ParseConnect(p.Payload) // must not panic
		}
	})
}

// FuzzDecoder: a stream fed whole or cut at any point yields the same
// packets and the same verdict.
func FuzzDecoder(f *testing.F) {
	s := append([]byte{0x20, 2, 0, 0}, AppendPublish(nil, V311, &Publish{Topic: []byte("t"), Payload: []byte("xy"), QoS: 1, PacketID: 1})...)
	f.Add(s, 3)
	f.Add(append(AppendAck(nil, V311, PUBREC, 5, 0), 0xD0, 0, 0x30), 5)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		whole := run(&Decoder{Version: V311, Max: 4096}, in)
		cut = min(max(cut, 0), len(in))
		d := &Decoder{Version: V311, Max: 4096}
		split := run(d, in[:cut])
		if len(split) == 0 || split[len(split)-1] != "error" {
			split = append(split, run(d, in[cut:])...)
		}
		if len(whole) != len(split) {
			t.Fatalf("whole %q split at %d %q", whole, cut, split)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("whole %q split at %d %q", whole, cut, split)
			}
		}
	})
}

func run(d *Decoder, in []byte) (out []string) {
	d.Feed(bytes.Clone(in))
	for range 1000 {
		p, ok, err := d.Next()
		if err != nil {
			return append(out, "error")
		}
		if !ok {
			return out
		}
		out = append(out, string(rune('A'+p.Type))+string(p.Topic)+string(p.Payload))
	}
	return out
}
