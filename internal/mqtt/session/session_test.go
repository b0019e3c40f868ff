package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/mqtt"
)

// fake is a driver that keeps what the session wrote and reported.
type fake struct {
	out     []mqtt.Packet
	v       byte
	held    int
	class   string
	text    string
	lat     [NumSeries][]int64
	foreign []string
}

func (f *fake) Write(b []byte) bool {
	for len(b) > 0 {
		p, n, err := mqtt.Parse(bytes.Clone(b), f.v, 0)
		if err != nil || n == 0 {
			panic("session wrote a bad packet")
		}
		f.out = append(f.out, p)
		b = b[n:]
	}
	return true
}
func (f *fake) Held()                              { f.held++ }
func (f *fake) Gone(class, text string, err error) { f.class, f.text = class, text }
func (f *fake) Record(s Series, ns int64)          { f.lat[s] = append(f.lat[s], ns) }
func (f *fake) Message(topic, payload []byte) {
	f.foreign = append(f.foreign, string(topic)+"="+string(payload))
}

func (f *fake) last() mqtt.Packet { return f.out[len(f.out)-1] }

func connected(t *testing.T, v byte, connack []byte) (*Session, *fake) {
	t.Helper()
	f := &fake{v: v}
	s := New(f, &Config{Connect: mqtt.Connect{Version: v, ClientID: []byte("template"), CleanStart: true, KeepAlive: 30}}, nil)
	if !s.Open(1000, &Identity{ClientID: []byte("imtool-1"), Publisher: 7}) || f.last().Type != mqtt.CONNECT {
		t.Fatal("no CONNECT")
	}
	c, err := mqtt.ParseConnect(f.last().Payload)
	if err != nil || string(c.ClientID) != "imtool-1" || c.Version != v {
		t.Fatalf("CONNECT %+v %v", c, err)
	}
	s.Input(connack, 1500)
	return s, f
}

func input(t *testing.T, s *Session, b []byte, rx int64) {
	t.Helper()
	if n, ok := s.Input(b, rx); !ok || n != len(b) {
		t.Fatalf("input % X: used %d ok %v", b, n, ok)
	}
}

// A 5.0 CONNACK with Receive Maximum 2 makes the window 2: the third QoS 1
// publish is held back (not written, counted Blocked) until a PUBACK frees
// a place; every PUBACK is timed from its publish.
func TestReceiveMaximumWindow(t *testing.T) {
	s, f := connected(t, mqtt.V5, []byte{0x20, 6, 0, 0, 3, 0x21, 0, 2})
	if f.held != 1 || !s.Held() || s.Window() != 2 || len(f.lat[Connect]) != 1 || f.lat[Connect][0] != 500 {
		t.Fatalf("held %d window %d connect %v", f.held, s.Window(), f.lat[Connect])
	}
	topic := []byte("devices/1/in")
	for i := range 2 {
		if err := s.Publish(topic, 1, false, []byte("x"), int64(2000+i)); err != nil {
			t.Fatal(err)
		}
	}
	id1, id2 := f.out[1].PacketID, f.out[2].PacketID
	if id1 == 0 || id1 == id2 {
		t.Fatalf("packet ids %d %d", id1, id2)
	}
	if err := s.Publish(topic, 1, false, nil, 2002); !errors.Is(err, ErrWindowFull) || s.Counts.Blocked[1] != 1 || len(f.out) != 3 {
		t.Fatalf("third publish: %v blocked %d writes %d", err, s.Counts.Blocked[1], len(f.out))
	}
	input(t, s, mqtt.AppendAck(nil, mqtt.V5, mqtt.PUBACK, id1, 0), 2100)
	if s.Counts.Acked[1] != 1 || f.lat[PubAck][0] != 100 {
		t.Fatalf("acked %d lat %v", s.Counts.Acked[1], f.lat[PubAck])
	}
	if err := s.Publish(topic, 1, false, nil, 2200); err != nil {
		t.Fatal(err)
	}
	if id3 := f.last().PacketID; id3 == id2 {
		t.Fatalf("packet id %d reused while in flight", id3)
	}
	s.Close()
	if s.Counts.Unacked[1] != 2 || s.Counts.Sent[1] != 3 || f.last().Type != mqtt.DISCONNECT {
		t.Fatalf("close: %+v last %s", *s.Counts, mqtt.TypeName(f.last().Type))
	}
}

// QoS 2 publish: PUBREC → PUBREL written → PUBCOMP, timed publish →
// PUBCOMP; an ack out of order ends the session as a protocol error.
func TestQoS2PublishFlow(t *testing.T) {
	s, f := connected(t, mqtt.V311, []byte{0x20, 2, 0, 0})
	if s.Window() != 65535 {
		t.Fatalf("3.1.1 window %d", s.Window())
	}
	if err := s.Publish([]byte("a"), 2, false, nil, 5000); err != nil {
		t.Fatal(err)
	}
	pub := f.last()
	if pub.QoS != 2 || len(pub.Payload) != HeaderLen || string(pub.Payload[:4]) != "imq\x02" ||
		binary.BigEndian.Uint64(pub.Payload[4:]) != 5000 || binary.BigEndian.Uint32(pub.Payload[12:]) != 7 {
		t.Fatalf("PUBLISH %+v", pub)
	}
	input(t, s, mqtt.AppendAck(nil, mqtt.V311, mqtt.PUBREC, pub.PacketID, 0), 5010)
	if rel := f.last(); rel.Type != mqtt.PUBREL || rel.PacketID != pub.PacketID {
		t.Fatalf("no PUBREL: %+v", rel)
	}
	if s.Counts.Acked[2] != 0 {
		t.Fatal("acked at PUBREC")
	}
	input(t, s, mqtt.AppendAck(nil, mqtt.V311, mqtt.PUBCOMP, pub.PacketID, 0), 5030)
	if s.Counts.Acked[2] != 1 || f.lat[PubComp][0] != 30 {
		t.Fatalf("acked %v lat %v", s.Counts.Acked, f.lat[PubComp])
	}
	if _, ok := s.Input(mqtt.AppendAck(nil, mqtt.V311, mqtt.PUBCOMP, pub.PacketID, 0), 5040); ok || f.class != mqtt.ClassProtocol ||
		!strings.Contains(f.text, "PUBCOMP for packet id") {
		t.Fatalf("stray PUBCOMP: %q %q", f.class, f.text)
	}
}

// Receiving: QoS 1 is PUBACKed, QoS 2 PUBRECed and delivered once even
// when the broker sends it again before PUBREL, PUBREL is answered with
// PUBCOMP, a QoS 1 redelivery of the same message counts as a duplicate,
// deliveries are timed from the publish time in the payload, and payloads
// without the swarm header go to Message.
func TestReceive(t *testing.T) {
	s, f := connected(t, mqtt.V311, []byte{0x20, 2, 0, 0})
	hdr := func(qos byte, ts int64, seq uint64) []byte {
		h := make([]byte, HeaderLen, HeaderLen+3)
		copy(h, "imq")
		h[3] = qos
		binary.BigEndian.PutUint64(h[4:], uint64(ts))
		binary.BigEndian.PutUint32(h[12:], 9)
		binary.BigEndian.PutUint64(h[16:], seq)
		return append(h, "abc"...)
	}
	q2 := mqtt.AppendPublish(nil, mqtt.V311, &mqtt.Publish{Topic: []byte("t"), Payload: hdr(2, 100, 1), QoS: 2, PacketID: 5})
	input(t, s, q2, 400)
	input(t, s, q2, 450)
	if f.last().Type != mqtt.PUBREC || s.Counts.Received[2] != 1 || s.Counts.Redelivered != 1 || len(f.lat[Deliver]) != 1 || f.lat[Deliver][0] != 300 {
		t.Fatalf("QoS 2 in: %+v lat %v", *s.Counts, f.lat[Deliver])
	}
	input(t, s, mqtt.AppendAck(nil, mqtt.V311, mqtt.PUBREL, 5, 0), 460)
	if c := f.last(); c.Type != mqtt.PUBCOMP || c.PacketID != 5 {
		t.Fatalf("no PUBCOMP: %+v", c)
	}
	q1 := mqtt.AppendPublish(nil, mqtt.V311, &mqtt.Publish{Topic: []byte("t"), Payload: hdr(1, 200, 2), QoS: 1, PacketID: 6})
	input(t, s, q1, 500)
	if f.last().Type != mqtt.PUBACK {
		t.Fatal("no PUBACK")
	}
	q1dup := mqtt.AppendPublish(nil, mqtt.V311, &mqtt.Publish{Topic: []byte("t"), Payload: hdr(1, 200, 2), QoS: 1, Dup: true, PacketID: 6})
	input(t, s, q1dup, 510)
	if s.Counts.Received[1] != 2 || s.Counts.Duplicated[1] != 1 || s.Counts.Unique()[1] != 1 {
		t.Fatalf("QoS 1 dup: %+v", *s.Counts)
	}
	if lost := s.Counts.Loss([3]uint64{0, 3, 1}); lost != [3]uint64{0, 2, 0} {
		t.Fatalf("loss %v", lost)
	}
	input(t, s, mqtt.AppendPublish(nil, mqtt.V311, &mqtt.Publish{Topic: []byte("$SYS/broker/clients/connected"), Payload: []byte("12")}), 600)
	if len(f.foreign) != 1 || f.foreign[0] != "$SYS/broker/clients/connected=12" || s.Counts.Foreign != 1 {
		t.Fatalf("foreign %v", f.foreign)
	}
	retained := mqtt.AppendPublish(nil, mqtt.V311, &mqtt.Publish{Topic: []byte("t"), Payload: hdr(0, 1, 3), Retain: true})
	input(t, s, retained, 700)
	if s.Counts.Retained[0] != 1 || s.Counts.Received[0] != 0 {
		t.Fatalf("retained counted as delivered: %+v", *s.Counts)
	}
}

// The broker's refusals and DISCONNECTs end the session with their class
// and the code in the text; a close before CONNACK is ClassClosedAtConnect.
func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		v     byte
		in    []byte
		class string
		text  string
	}{
		{mqtt.V311, []byte{0x20, 2, 0, 4}, mqtt.ClassBadCredentials, "CONNACK 4 bad user name or password"},
		{mqtt.V311, []byte{0x20, 2, 0, 5}, mqtt.ClassNotAuthorized, "CONNACK 5 not authorized"},
		{mqtt.V5, []byte{0x20, 3, 0, 0x97, 0}, mqtt.ClassQuotaExceeded, "CONNACK 0x97 quota exceeded"},
		{mqtt.V5, []byte{0x20, 9, 0, 0x89, 6, 0x1F, 0, 3, 'b', 'y', 'e'}, mqtt.ClassServerBusy, "CONNACK 0x89 server busy: bye"},
		{mqtt.V311, []byte{0x30, 3, 0, 1, 't'}, mqtt.ClassProtocol, "PUBLISH before CONNACK"},
		{mqtt.V311, []byte{0x20, 2, 0, 0, 0x40, 2, 0, 9}, mqtt.ClassProtocol, "PUBACK for packet id 9"},
		{mqtt.V5, []byte{0x20, 3, 0, 0, 0, 0xE0, 1, 0x8E}, mqtt.ClassTakenOver, "DISCONNECT 0x8E session taken over"},
		{mqtt.V311, []byte{0x20, 2, 0, 0, 0xE0, 0}, mqtt.ClassProtocol, "unexpected DISCONNECT"},
		{mqtt.V5, []byte{0x20, 3, 0, 0, 0, 0xE0, 0}, mqtt.ClassDisconnected, "DISCONNECT 0x00 success"},
		{mqtt.V311, []byte{0x20, 2, 0, 0, 0xD0, 0}, mqtt.ClassProtocol, "PINGRESP without a PINGREQ"},
		{mqtt.V311, []byte{0x20, 2, 0, 0, 0x20, 2, 0, 0}, mqtt.ClassProtocol, "a second CONNACK"},
		{mqtt.V311, []byte{0x20, 2, 0, 0, 0x36, 0}, mqtt.ClassProtocol, "QoS 3"},
	} {
		s, f := connected(t, c.v, nil)
		if _, ok := s.Input(c.in, 10); ok || f.class != c.class || !strings.Contains(f.text, c.text) {
			t.Errorf("% X: ok %v class %q text %q, want %q %q", c.in, ok, f.class, f.text, c.class, c.text)
		}
	}
	s, _ := connected(t, mqtt.V311, nil)
	if got := s.Ended(); got != mqtt.ClassClosedAtConnect {
		t.Errorf("closed before CONNACK: %q", got)
	}
	s, _ = connected(t, mqtt.V311, []byte{0x20, 2, 0, 0})
	if got := s.Ended(); got != "" {
		t.Errorf("closed after CONNACK: %q", got)
	}
}

// A packet split across reads is used only once it is whole.
func TestSplitInput(t *testing.T) {
	s, f := connected(t, mqtt.V311, nil)
	if n, ok := s.Input([]byte{0x20}, 1); n != 0 || !ok {
		t.Fatalf("half a CONNACK used %d", n)
	}
	if n, ok := s.Input([]byte{0x20, 2, 0, 0, 0xD0}, 2); n != 4 || !ok || f.held != 1 {
		t.Fatalf("used %d ok %v held %d", n, ok, f.held)
	}
}

// Keep-alive: PINGREQ at each beat, timed by its PINGRESP; a beat while
// one is unanswered writes nothing and counts PingsLate. A 5.0 Server Keep
// Alive replaces the CONNECT's.
func TestKeepAlive(t *testing.T) {
	s, f := connected(t, mqtt.V5, []byte{0x20, 6, 0, 0, 3, 0x13, 0, 5})
	if s.KeepAlive() != 5 {
		t.Fatalf("keep alive %d", s.KeepAlive())
	}
	s.Beat(10_000)
	if f.last().Type != mqtt.PINGREQ {
		t.Fatal("no PINGREQ")
	}
	n := len(f.out)
	s.Beat(20_000)
	if len(f.out) != n || s.Counts.PingsLate != 1 {
		t.Fatal("second PINGREQ while one is unanswered")
	}
	input(t, s, []byte{0xD0, 0}, 10_250)
	if s.Counts.Pongs != 1 || f.lat[Heartbeat][0] != 250 {
		t.Fatalf("heartbeat %v", f.lat[Heartbeat])
	}
}

// A refused SUBACK ends the session; a granted one is timed.
func TestSubscribe(t *testing.T) {
	s, f := connected(t, mqtt.V5, []byte{0x20, 3, 0, 0, 0})
	if err := s.Subscribe([]byte("a/#/b"), 1, 0); err == nil {
		t.Fatal("bad filter accepted")
	}
	if err := s.Subscribe([]byte("devices/+/in"), 1, 100); err != nil {
		t.Fatal(err)
	}
	id := f.last().PacketID
	input(t, s, []byte{0x90, 4, byte(id >> 8), byte(id), 0, 1}, 130)
	if s.Counts.Subscribed != 1 || f.lat[SubAck][0] != 30 {
		t.Fatalf("suback %+v %v", *s.Counts, f.lat[SubAck])
	}
	s.Subscribe([]byte("secret"), 1, 200)
	id = f.last().PacketID
	if _, ok := s.Input([]byte{0x90, 4, byte(id >> 8), byte(id), 0, 0x87}, 230); ok || f.class != mqtt.ClassNotAuthorized || !strings.Contains(f.text, "0x87 not authorized") {
		t.Fatalf("refused SUBACK: %q %q", f.class, f.text)
	}
}

// A 5.0 Maximum QoS of 1 refuses a QoS 2 publish with a clear error.
func TestMaximumQoS(t *testing.T) {
	s, _ := connected(t, mqtt.V5, []byte{0x20, 5, 0, 0, 2, 0x24, 1})
	if err := s.Publish([]byte("t"), 2, false, nil, 1); err == nil || !strings.Contains(err.Error(), "Maximum QoS is 1") {
		t.Fatalf("QoS 2 over Maximum QoS 1: %v", err)
	}
}

func TestWindowDedup(t *testing.T) {
	var w window
	for _, c := range []struct {
		seq uint64
		new bool
	}{{1, true}, {1, false}, {3, true}, {2, true}, {2, false}, {3, false}, {100, true}, {37, true}, {37, false}, {99, true}, {100, false}, {500, true}, {437, true}} {
		if got := w.add(c.seq); got != c.new {
			t.Fatalf("seq %d: new %v want %v", c.seq, got, c.new)
		}
	}
}
