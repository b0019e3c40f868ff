package mqtt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Remaining-length encodings are the table of MQTT 3.1.1 §2.2.3 (and 5.0
// §1.5.5), bounds of each byte count.
func TestVarintSpecTable(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x00}}, {127, []byte{0x7F}}, {128, []byte{0x80, 0x01}}, {16383, []byte{0xFF, 0x7F}},
		{16384, []byte{0x80, 0x80, 0x01}}, {2097151, []byte{0xFF, 0xFF, 0x7F}},
		{2097152, []byte{0x80, 0x80, 0x80, 0x01}}, {268435455, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
	} {
		got := appendVarint(nil, c.n)
		if !bytes.Equal(got, c.want) || varintLen(c.n) != len(c.want) {
			t.Errorf("%d: % X (len %d), want % X", c.n, got, varintLen(c.n), c.want)
		}
		v, n, err := readVarint(c.want)
		if err != nil || v != c.n || n != len(c.want) {
			t.Errorf("read % X = %d,%d,%v", c.want, v, n, err)
		}
	}
	if _, _, err := readVarint([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0x01}); err == nil {
		t.Error("5-byte varint accepted")
	}
}

// The CONNECT variable header of MQTT 3.1.1 Figure 3.6 (user name,
// password, will QoS 1, will flag, clean session: flags 0xCE; keep alive
// 10) and of 5.0 §3.1.2.11 (the same with Session Expiry Interval 10).
func TestConnectSpecExamples(t *testing.T) {
	will := &Will{Topic: []byte("w"), Payload: []byte("x"), QoS: 1}
	c := Connect{Version: V311, ClientID: []byte("id"), CleanStart: true, KeepAlive: 10,
		Username: []byte("u"), Password: []byte("p"), Will: will}
	b, err := AppendConnect(nil, &c)
	if err != nil {
		t.Fatal(err)
	}
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xCE, 0, 10}
	payload := []byte{0, 2, 'i', 'd', 0, 1, 'w', 0, 1, 'x', 0, 1, 'u', 0, 1, 'p'}
	want := append(append([]byte{0x10, byte(len(vh) + len(payload))}, vh...), payload...)
	if !bytes.Equal(b, want) {
		t.Fatalf("3.1.1 CONNECT\n got % X\nwant % X", b, want)
	}
	c.Version, c.SessionExpiry = V5, 10
	b, err = AppendConnect(nil, &c)
	if err != nil {
		t.Fatal(err)
	}
	vh5 := []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0xCE, 0, 10, 5, 0x11, 0, 0, 0, 10}
	payload5 := []byte{0, 2, 'i', 'd', 0, 0, 1, 'w', 0, 1, 'x', 0, 1, 'u', 0, 1, 'p'} // will properties: 0
	want = append(append([]byte{0x10, byte(len(vh5) + len(payload5))}, vh5...), payload5...)
	if !bytes.Equal(b, want) {
		t.Fatalf("5.0 CONNECT\n got % X\nwant % X", b, want)
	}
}

// Every CONNECT the encoder builds reads back the same through the
// broker's side (ParseConnect).
func TestConnectRoundTrip(t *testing.T) {
	for _, c := range []Connect{
		{Version: V311, ClientID: []byte("imtool-1"), CleanStart: true, KeepAlive: 30},
		{Version: V311, ClientID: []byte{}, Username: []byte("user"), Password: []byte{}},
		{Version: V5, ClientID: []byte("c"), KeepAlive: 65535, ReceiveMax: 20, MaxPacketSize: 1 << 20,
			SessionExpiry: 300, Username: []byte("u"), Password: []byte("pw"),
			Will: &Will{Topic: []byte("gone/1"), Payload: []byte("bye"), QoS: 2, Retain: true}},
		{Version: V5, ClientID: []byte("c"), Password: []byte("token-only")},
	} {
		b, err := AppendConnect(nil, &c)
		if err != nil {
			t.Fatal(err)
		}
		p, n, err := Parse(b, c.Version, 0)
		if err != nil || n != len(b) || p.Type != CONNECT {
			t.Fatalf("parse: %v n=%d/%d type %d", err, n, len(b), p.Type)
		}
		got, err := ParseConnect(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != c.Version || !bytes.Equal(got.ClientID, c.ClientID) || got.CleanStart != c.CleanStart ||
			got.KeepAlive != c.KeepAlive || !bytes.Equal(got.Username, c.Username) ||
			(got.Username == nil) != (c.Username == nil) || (got.Password == nil) != (c.Password == nil) ||
			!bytes.Equal(got.Password, c.Password) || got.ReceiveMax != c.ReceiveMax ||
			got.SessionExpiry != c.SessionExpiry || got.MaxPacketSize != c.MaxPacketSize ||
			(got.Will == nil) != (c.Will == nil) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, c)
		}
		if c.Will != nil && (!bytes.Equal(got.Will.Topic, c.Will.Topic) || !bytes.Equal(got.Will.Payload, c.Will.Payload) ||
			got.Will.QoS != c.Will.QoS || got.Will.Retain != c.Will.Retain) {
			t.Fatalf("will: got %+v want %+v", got.Will, c.Will)
		}
	}
}

func TestConnectRefusesWhatCannotBeSent(t *testing.T) {
	for name, c := range map[string]Connect{
		"password without user in 3.1.1": {Version: V311, Password: []byte("p")},
		"level 3":                        {Version: 3},
		"will QoS 3":                     {Version: V5, Will: &Will{Topic: []byte("t"), QoS: 3}},
		"client id not UTF-8":            {Version: V5, ClientID: []byte{0xFF}},
		"client id with U+0000":          {Version: V5, ClientID: []byte{'a', 0}},
	} {
		if _, err := AppendConnect(nil, &c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// PUBLISH variable header of MQTT 3.1.1 Figure 3.11 (topic "a/b", packet
// id 10), SUBSCRIBE payload of Figure 3.22 one filter at a time, and the
// two-byte packets of §3.12-3.14.
func TestFixedEncodings(t *testing.T) {
	pub := AppendPublish(nil, V311, &Publish{Topic: []byte("a/b"), Payload: []byte("hi"), QoS: 1, PacketID: 10})
	want := []byte{0x32, 9, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}
	if !bytes.Equal(pub, want) {
		t.Errorf("PUBLISH % X want % X", pub, want)
	}
	pub5 := AppendPublish(nil, V5, &Publish{Topic: []byte("a/b"), QoS: 2, Retain: true, Dup: true, PacketID: 10})
	if want := []byte{0x3D, 8, 0, 3, 'a', '/', 'b', 0, 10, 0}; !bytes.Equal(pub5, want) {
		t.Errorf("5.0 PUBLISH % X want % X", pub5, want)
	}
	if got, want := AppendPublish(nil, V311, &Publish{Topic: []byte("t"), Dup: true, PacketID: 7}), []byte{0x30, 3, 0, 1, 't'}; !bytes.Equal(got, want) {
		t.Errorf("QoS 0 PUBLISH % X want % X (no id, no DUP)", got, want)
	}
	sub := AppendSubscribe(nil, V311, 10, []byte("a/b"), 1)
	if want := []byte{0x82, 8, 0, 10, 0, 3, 'a', '/', 'b', 1}; !bytes.Equal(sub, want) {
		t.Errorf("SUBSCRIBE % X want % X", sub, want)
	}
	sub5 := AppendSubscribe(nil, V5, 11, []byte("c/d"), 2)
	if want := []byte{0x82, 9, 0, 11, 0, 0, 3, 'c', '/', 'd', 2}; !bytes.Equal(sub5, want) {
		t.Errorf("5.0 SUBSCRIBE % X want % X", sub5, want)
	}
	for _, c := range []struct{ got, want []byte }{
		{AppendPingreq(nil), []byte{0xC0, 0}},
		{AppendDisconnect(nil, V311, 0), []byte{0xE0, 0}},
		{AppendDisconnect(nil, V5, 0), []byte{0xE0, 0}},
		{AppendDisconnect(nil, V5, 0x04), []byte{0xE0, 1, 0x04}},
		{AppendAck(nil, V311, PUBACK, 0x1234, 0), []byte{0x40, 2, 0x12, 0x34}},
		{AppendAck(nil, V311, PUBREC, 1, 0), []byte{0x50, 2, 0, 1}},
		{AppendAck(nil, V311, PUBREL, 1, 0), []byte{0x62, 2, 0, 1}},
		{AppendAck(nil, V311, PUBCOMP, 1, 0), []byte{0x70, 2, 0, 1}},
		{AppendAck(nil, V5, PUBREL, 1, 0x92), []byte{0x62, 3, 0, 1, 0x92}},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("% X want % X", c.got, c.want)
		}
	}
}

// Packets a broker sends, as the spec lays them out, parse to their fields.
func TestParseBrokerPackets(t *testing.T) {
	// SUBACK of 3.1.1 Figure 3.26: return codes 0, 1, 2 and 0x80 (failure).
	p, n, err := Parse([]byte{0x90, 6, 0, 10, 0x00, 0x01, 0x02, 0x80}, V311, 0)
	if err != nil || n != 8 || p.Type != SUBACK || p.PacketID != 10 || !bytes.Equal(p.Payload, []byte{0, 1, 2, 0x80}) {
		t.Fatalf("SUBACK %+v n=%d %v", p, n, err)
	}
	p, _, err = Parse([]byte{0x20, 2, 1, 5}, V311, 0)
	if err != nil || !p.SessionPresent || p.Reason != RCNotAuthorized {
		t.Fatalf("CONNACK %+v %v", p, err)
	}
	// 5.0 CONNACK: success, Receive Maximum 20, Server Keep Alive 60,
	// Assigned Client Identifier "a1", Maximum QoS 1, a user property.
	props := []byte{0x21, 0, 20, 0x13, 0, 60, 0x12, 0, 2, 'a', '1', 0x24, 1, 0x26, 0, 1, 'k', 0, 1, 'v'}
	b := append([]byte{0x20, byte(3 + len(props)), 0, 0, byte(len(props))}, props...)
	p, n, err = Parse(b, V5, 0)
	if err != nil || n != len(b) || p.Props.ReceiveMax != 20 || !p.Props.HasKeepAlive || p.Props.ServerKeepAlive != 60 ||
		string(p.Props.AssignedClientID) != "a1" || !p.Props.HasMaxQoS || p.Props.MaxQoS != 1 {
		t.Fatalf("5.0 CONNACK %+v n=%d %v", p, n, err)
	}
	// 5.0 DISCONNECT 0x8E session taken over with a reason string.
	b = []byte{0xE0, 8, 0x8E, 6, 0x1F, 0, 3, 'd', 'u', 'p'}
	p, _, err = Parse(b, V5, 0)
	if err != nil || p.Reason != 0x8E || string(p.Props.ReasonString) != "dup" {
		t.Fatalf("DISCONNECT %+v %v", p, err)
	}
	// 5.0 PUBACK forms: 2 bytes (success implied), 3 bytes, 4 bytes.
	for _, b := range [][]byte{{0x40, 2, 0, 9}, {0x40, 3, 0, 9, 0x10}, {0x40, 4, 0, 9, 0x97, 0}} {
		p, n, err := Parse(b, V5, 0)
		if err != nil || n != len(b) || p.PacketID != 9 {
			t.Fatalf("PUBACK % X: %+v %v", b, p, err)
		}
	}
	// PUBLISH from the broker at QoS 2 with a 5.0 topic alias.
	b = []byte{0x34, 11, 0, 3, 'a', '/', 'b', 0, 7, 3, 0x23, 0, 1, 'z'}
	b[1] = byte(len(b) - 2)
	p, _, err = Parse(b, V5, 0)
	if err != nil || p.QoS != 2 || p.PacketID != 7 || string(p.Topic) != "a/b" || p.Props.TopicAlias != 1 || string(p.Payload) != "z" {
		t.Fatalf("PUBLISH %+v %v", p, err)
	}
	if p, _, err = Parse([]byte{0xD0, 0}, V311, 0); err != nil || p.Type != PINGRESP {
		t.Fatalf("PINGRESP %+v %v", p, err)
	}
}

// Bad input gets an *Error that says what is wrong.
func TestParseRejects(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		v    byte
		want string
	}{
		{[]byte{0x00, 0}, V311, "reserved"},
		{[]byte{0xF0, 0}, V311, "reserved"},
		{[]byte{0x21, 2, 0, 0}, V311, "flags"},
		{[]byte{0x60, 2, 0, 1}, V311, "flags"},
		{[]byte{0x36, 5, 0, 1, 't', 0, 1}, V311, "QoS 3"},
		{[]byte{0x38, 3, 0, 1, 't'}, V311, "DUP"},
		{[]byte{0x32, 3, 0, 1, 't'}, V311, "packet identifier"},
		{[]byte{0x32, 5, 0, 1, 't', 0, 0}, V311, "identifier 0"},
		{[]byte{0x30, 3, 0, 9, 't'}, V311, "overruns"},
		{[]byte{0x30, 3, 0, 1, 0xFF}, V311, "UTF-8"},
		{[]byte{0x30, 2, 0, 0}, V311, "empty topic"},
		{[]byte{0x20, 3, 0, 0, 0}, V311, "CONNACK of 3"},
		{[]byte{0x20, 2, 2, 0}, V311, "reserved"},
		{[]byte{0x20, 3, 0, 0, 5}, V5, "property length"},
		{[]byte{0x20, 5, 0, 0, 2, 0x21, 0}, V5, "cut short"},
		{[]byte{0x20, 6, 0, 0, 3, 0x21, 0, 0}, V5, "Receive Maximum 0"},
		{[]byte{0x20, 5, 0, 0, 2, 0x7F, 0}, V5, "unknown property"},
		{[]byte{0x40, 2, 0, 0}, V311, "identifier 0"},
		{[]byte{0x90, 2, 0, 1}, V311, "without reason codes"},
		{[]byte{0xD0, 1, 0}, V311, "bytes after"},
		{[]byte{0xE0, 1, 0}, V311, "3.1.1 DISCONNECT"},
		{[]byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, V311, "longer than 4"},
	} {
		_, _, err := Parse(c.in, c.v, 0)
		var me *Error
		if !errors.As(err, &me) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("% X: %v, want an *Error with %q", c.in, err, c.want)
		}
	}
	if _, _, err := Parse([]byte{0x30, 0x80, 0x80, 0x04}, V311, 1<<16); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized packet: %v", err)
	}
	if _, err := ParseConnect([]byte("\x00\x04MQTX\x04\x00\x00\x00")); err == nil {
		t.Error("CONNECT with a bad protocol name accepted")
	}
}

func TestTopicAndFilterChecks(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "/", "devices/1/in"} {
		if err := CheckTopic([]byte(ok)); err != nil {
			t.Errorf("topic %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/+", "#", "a\x00"} {
		if CheckTopic([]byte(bad)) == nil {
			t.Errorf("topic %q accepted", bad)
		}
	}
	for _, ok := range []string{"#", "+", "a/#", "+/b/+", "$SYS/broker/clients/connected", "a//b"} {
		if err := CheckFilter([]byte(ok)); err != nil {
			t.Errorf("filter %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a#", "a/#/b", "a+/b", "a/b+"} {
		if CheckFilter([]byte(bad)) == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

// The Decoder yields the same packets however the stream is cut: one byte
// at a time, in one read, or across packet boundaries.
func TestDecoderSplitAndMerged(t *testing.T) {
	var stream []byte
	stream = append(stream, 0x20, 2, 0, 0)
	big := bytes.Repeat([]byte("x"), 300) // a two-byte remaining length
	for i := range 5 {
		stream = AppendPublish(stream, V311, &Publish{Topic: []byte("t/1"), Payload: big[:i*70], QoS: byte(i % 3), PacketID: uint16(i + 1)})
	}
	stream = append(stream, 0xD0, 0)
	whole := decodeAll(t, stream, len(stream))
	if len(whole) != 7 {
		t.Fatalf("%d packets, want 7", len(whole))
	}
	for _, step := range []int{1, 2, 3, 7, 64} {
		got := decodeAll(t, stream, step)
		if strings.Join(got, "|") != strings.Join(whole, "|") {
			t.Fatalf("reads of %d bytes: %v\nwant %v", step, got, whole)
		}
	}
}

func decodeAll(t *testing.T, stream []byte, step int) (out []string) {
	d := Decoder{Version: V311}
	for off := 0; off < len(stream); off += step {
		d.Feed(stream[off:min(off+step, len(stream))])
		for {
			p, ok, err := d.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			out = append(out, TypeName(p.Type)+":"+string(p.Topic)+":"+string(p.Payload))
		}
	}
	if d.Buffered() != 0 {
		t.Fatalf("%d bytes left", d.Buffered())
	}
	return out
}

// Each refusal the issue names maps to its class, with the code in the
// text and a fix.
func TestRefusalClasses(t *testing.T) {
	for _, c := range []struct {
		v, t, code byte
		class      string
		text       string
	}{
		{V311, CONNACK, 4, ClassBadCredentials, "CONNACK 4 bad user name or password"},
		{V311, CONNACK, 5, ClassNotAuthorized, "CONNACK 5 not authorized"},
		{V311, CONNACK, 3, ClassServerBusy, "CONNACK 3 server unavailable"},
		{V311, CONNACK, 2, ClassClientIDRejected, "CONNACK 2 identifier rejected"},
		{V311, CONNACK, 1, ClassBadVersion, "CONNACK 1 unacceptable protocol version"},
		{V311, CONNACK, 9, ClassRefused, "CONNACK 9 reserved"},
		{V5, CONNACK, 0x86, ClassBadCredentials, "CONNACK 0x86 bad user name or password"},
		{V5, CONNACK, 0x87, ClassNotAuthorized, "CONNACK 0x87 not authorized"},
		{V5, CONNACK, 0x89, ClassServerBusy, "CONNACK 0x89 server busy"},
		{V5, CONNACK, 0x97, ClassQuotaExceeded, "CONNACK 0x97 quota exceeded"},
		{V5, CONNACK, 0x85, ClassClientIDRejected, "CONNACK 0x85 client identifier not valid"},
		{V5, DISCONNECT, 0x8E, ClassTakenOver, "DISCONNECT 0x8E session taken over"},
		{V5, DISCONNECT, 0x8B, ClassServerBusy, "DISCONNECT 0x8B server shutting down"},
		{V5, DISCONNECT, 0x04, ClassDisconnected, "DISCONNECT 0x04 disconnect with will message"},
		{V5, PUBACK, 0x10, "", "PUBACK 0x10 no matching subscribers"},
	} {
		if got := Class(c.v, c.t, c.code); got != c.class {
			t.Errorf("%s: class %q want %q", c.text, got, c.class)
		}
		if got := CodeText(c.v, c.t, c.code); got != c.text {
			t.Errorf("text %q want %q", got, c.text)
		}
		if c.class != "" && Fix(c.class) == "" {
			t.Errorf("%s has no fix", c.class)
		}
	}
	if Class(V311, CONNACK, 0) != "" || Class(V5, CONNACK, 0) != "" {
		t.Error("success is an error class")
	}
}
