package session

import (
	"testing"

	"github.com/imtool/imtool/internal/mqtt"
)

type nop struct{}

func (nop) Write([]byte) bool          { return true }
func (nop) Held()                      {}
func (nop) Gone(string, string, error) {}
func (nop) Record(Series, int64)       {}
func (nop) Message(topic, body []byte) {}

// BenchmarkPublishQoS1: one QoS 1 PUBLISH written and its PUBACK handled,
// per op; 0 allocs/op once the in-flight map has grown.
func BenchmarkPublishQoS1(b *testing.B) {
	s := New(nop{}, &Config{Connect: mqtt.Connect{Version: mqtt.V5, ClientID: []byte("c")}}, nil)
	s.Open(0, nil)
	s.Input([]byte{0x20, 3, 0, 0, 0}, 1)
	topic, body := []byte("devices/1/in"), make([]byte, 40)
	ack := []byte{0x40, 2, 0, 0}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Publish(topic, 1, false, body, 2); err != nil {
			b.Fatal(err)
		}
		ack[2], ack[3] = byte(s.nextID>>8), byte(s.nextID)
		if _, ok := s.Input(ack, 3); !ok {
			b.Fatal("closed")
		}
	}
}

// BenchmarkReceiveQoS1: one QoS 1 PUBLISH from the broker handled
// (PUBACK written, deduplicated, timed) per op; 0 allocs/op.
func BenchmarkReceiveQoS1(b *testing.B) {
	pubS := New(nop{}, &Config{Connect: mqtt.Connect{Version: mqtt.V311}}, nil)
	var pkt []byte
	pubS.d = writer(func(p []byte) { pkt = append(pkt[:0], p...) })
	pubS.Open(0, nil)
	pubS.Input([]byte{0x20, 2, 0, 0}, 1)
	s := New(nop{}, &Config{Connect: mqtt.Connect{Version: mqtt.V311}}, nil)
	s.Open(0, nil)
	s.Input([]byte{0x20, 2, 0, 0}, 1)
	topic, ack := []byte("t/1"), []byte{0x40, 2, 0, 0}
	b.ReportAllocs()
	for b.Loop() {
		pubS.Publish(topic, 1, false, nil, 5)
		ack[2], ack[3] = byte(pubS.nextID>>8), byte(pubS.nextID)
		pubS.Input(ack, 6)
		if _, ok := s.Input(pkt, 9); !ok {
			b.Fatal("closed")
		}
	}
}

type writer func([]byte)

func (w writer) Write(b []byte) bool      { w(b); return true }
func (writer) Held()                      {}
func (writer) Gone(string, string, error) {}
func (writer) Record(Series, int64)       {}
func (writer) Message(topic, body []byte) {}

// BenchmarkHeldSession: the memory of one held connection's session (NewCounting
// with the loop's shared scratch buffer and counts, CONNECT written, CONNACK read),
// B/op being the per-connection cost before any publish or subscription
// grows its maps.
func BenchmarkHeldSession(b *testing.B) {
	cfg := &Config{Connect: mqtt.Connect{Version: mqtt.V5, ClientID: []byte("imtool-123456"), KeepAlive: 30}}
	connack := []byte{0x20, 3, 0, 0, 0}
	var scratch []byte
	var counts Counts // the loop's, shared
	b.ReportAllocs()
	for b.Loop() {
		s := NewCounting(nop{}, cfg, &scratch, &counts)
		s.Open(0, nil)
		s.Input(connack, 1)
		heldSink = s // kept, as an engine keeps it
	}
}

var heldSink *Session
