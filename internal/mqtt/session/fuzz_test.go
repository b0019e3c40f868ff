package session

import (
	"testing"

	"github.com/imtool/imtool/internal/mqtt"
)

// FuzzInput: whatever a broker sends after accepting a session that has
// QoS 1 and 2 publishes and a SUBSCRIBE in flight, the session never
// panics, never counts more acknowledgements than it sent, and once closed
// accounts for every publish as acknowledged, refused or unacknowledged.
func FuzzInput(f *testing.F) {
	f.Add([]byte{0x40, 2, 0, 1, 0x50, 2, 0, 2, 0x70, 2, 0, 2}, true)
	f.Add([]byte{0x90, 3, 0, 3, 1, 0xD0, 0, 0xE0, 1, 0x8E}, false)
	f.Add(mqtt.AppendPublish(nil, mqtt.V311, &mqtt.Publish{Topic: []byte("t"), Payload: make([]byte, 30), QoS: 2, PacketID: 4}), true)
	f.Add([]byte{0x62, 2, 0, 4, 0x40, 3, 0, 1, 0x97}, false)
	f.Fuzz(func(t *testing.T, in []byte, v311 bool) {
		v, connack := mqtt.V5, []byte{0x20, 3, 0, 0, 0}
		if v311 {
			v, connack = mqtt.V311, []byte{0x20, 2, 0, 0}
		}
		s := New(nop{}, &Config{Connect: mqtt.Connect{Version: v}}, nil)
		s.Open(0, nil)
		if _, ok := s.Input(connack, 1); !ok {
			t.Fatal("CONNACK refused")
		}
		s.Publish([]byte("a"), 1, false, nil, 2) // packet id 1
		s.Publish([]byte("a"), 2, false, nil, 2) // 2
		s.Subscribe([]byte("a/#"), 1, 2)         // 3
		s.Beat(3)
		rest := in
		for range 100 {
			if len(rest) == 0 {
				break
			}
			n, ok := s.Input(rest, 4)
			if !ok || n == 0 {
				break
			}
			rest = rest[n:]
		}
		c := s.Counts
		for q := 1; q <= 2; q++ {
			if c.Acked[q]+c.Refused[q] > c.Sent[q] {
				t.Fatalf("QoS %d: %d acked + %d refused of %d sent", q, c.Acked[q], c.Refused[q], c.Sent[q])
			}
		}
		s.Close()
		for q := 1; q <= 2; q++ {
			if c.Acked[q]+c.Refused[q]+c.Unacked[q] != c.Sent[q] {
				t.Fatalf("QoS %d after close: %d acked + %d refused + %d unacked ≠ %d sent", q, c.Acked[q], c.Refused[q], c.Unacked[q], c.Sent[q])
			}
		}
	})
}
