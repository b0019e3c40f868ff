package scenario

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/scenario/scenariotest"
	"github.com/imtool/imtool/internal/wire"
)

func example(t testing.TB, name string) *Scenario {
	t.Helper()
	src, err := os.ReadFile("../../examples/protocols/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(name, src)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The imtool example builds the frames internal/wire builds, byte for byte.
func TestIMToolFramesAsWire(t *testing.T) {
	s := example(t, "imtool")
	v := NewValues(s)
	v.UID, v.TS, v.Peer = 42, 1_800_000_000_123_456_789, 43
	v.Token = []byte("abcdef")
	if got, want := s.Steps[0].Send.Append(nil, &v), wire.AppendLogin(nil, 42, []byte("abcdef")); !bytes.Equal(got, want) {
		t.Errorf("LOGIN\n got % x\nwant % x", got, want)
	}
	if got, want := s.Heartbeat.Send.Append(nil, &v), wire.AppendPing(nil, v.TS); !bytes.Equal(got, want) {
		t.Errorf("PING\n got % x\nwant % x", got, want)
	}
	want := wire.AppendSend(nil, v.TS, 43, v.TS, bytes.Repeat([]byte("x"), 64))
	if got := s.Message.Send.Append(nil, &v); !bytes.Equal(got, want) {
		t.Errorf("SEND\n got % x\nwant % x", got, want)
	}
	// What the gateway sends back is cut and recognised, the time captured.
	var in []byte
	in = wire.AppendLoginOK(in, 42, 1, 2)
	in = append(in, 0, 0, 0, 9, wire.TypePong)
	in = binary.BigEndian.AppendUint64(in, v.TS)
	for len(in) > 0 {
		f, n, err := s.Framing.Next(in, false)
		if err != nil || n == 0 {
			t.Fatalf("framing: %d, %v", n, err)
		}
		in = in[n:]
		switch f.Data[4] {
		case wire.TypeLoginOK:
			if !s.Steps[0].Expect.Match(f, &v) {
				t.Error("LOGIN_OK not recognised")
			}
		case wire.TypePong:
			if !s.Heartbeat.Reply.Match(f, &v) {
				t.Error("PONG not recognised")
			}
			if ts, _ := v.Number(s.VarIndex(CapTS)); ts != v.TS {
				t.Errorf("PONG's time %d, want %d", ts, v.TS)
			}
		}
	}
}

// The goim example builds what an independent encoder of goim's header
// builds.
func TestGoimFrames(t *testing.T) {
	s := example(t, "goim")
	v := NewValues(s)
	v.UID, v.TID, v.Peer, v.MID, v.TS = 1, 77, 9, 3, 123
	auth := `{"mid":1,"key":"k-1","room_id":"live://1000","platform":"web","accepts":[1000]}`
	if got, want := s.Steps[0].Send.Append(nil, &v), scenariotest.AppendGoim(nil, 1, 7, 1, []byte(auth)); !bytes.Equal(got, want) {
		t.Errorf("auth\n got % x\nwant % x", got, want)
	}
	if got, want := s.Heartbeat.Send.Append(nil, &v), scenariotest.AppendGoim(nil, 1, 2, 77, nil); !bytes.Equal(got, want) {
		t.Errorf("heartbeat\n got % x\nwant % x", got, want)
	}
	body := binary.BigEndian.AppendUint64(nil, 9)
	body = append(body, `{"mid":3,"ts":123}`...)
	if got, want := s.Message.Send.Append(nil, &v), scenariotest.AppendGoim(nil, 1, 4, 77, body); !bytes.Equal(got, want) {
		t.Errorf("send\n got % x\nwant % x", got, want)
	}
	dl := scenariotest.AppendGoim(nil, 1, 9, 0, []byte(`{"mid":3,"ts":123}`))
	f, n, err := s.Framing.Next(dl, false)
	if err != nil || n != len(dl) || !s.Message.Deliver.Match(f, &v) {
		t.Fatalf("delivery: %d of %d, %v", n, len(dl), err)
	}
	ts, _ := v.Number(s.VarIndex(CapTS))
	mid, _ := v.Number(s.VarIndex(CapMID))
	if ts != 123 || mid != 3 {
		t.Errorf("delivery's ts %d, mid %d", ts, mid)
	}
}

// NATS: the byte count of PUB is the body's, and MSG's body is cut by it,
// split reads and all.
func TestNATSFrames(t *testing.T) {
	s := example(t, "nats")
	v := NewValues(s)
	v.Peer, v.MID, v.TS = 5, 12, 1234567
	body := `{"mid":12,"ts":1234567}`
	if got := string(s.Message.Send.Append(nil, &v)); got != "PUB inbox.5 23\r\n"+body+"\r\n" {
		t.Errorf("PUB %q", got)
	}
	in := []byte("PING\r\nMSG inbox.5 1 23\r\n" + body + "\r\n+OK\r\n")
	var frames []string
	for i := 1; i <= len(in); i++ { // every split of the stream
		frames = frames[:0]
		data := in[:i]
		for {
			f, n, err := s.Framing.Next(data, false)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			frames = append(frames, string(f.Data[f.Body:]))
			data = data[n:]
		}
	}
	if strings.Join(frames, "|") != "PING|"+body+"|+OK" {
		t.Errorf("frames %q", frames)
	}
}

func TestTemplateLengths(t *testing.T) {
	s, err := Parse("f", []byte(`
framing: {length: {size: 1}}
message:
  send:
    - u8: len(rest)
    - u8: 0x0a
    - varint: len(name)
    - text: "user-{peer}"
      name: name
    - u16le: len(all)+1
    - hex: "ff 00"
`))
	if err != nil {
		t.Fatal(err)
	}
	v := NewValues(s)
	v.Peer = 123456
	got := s.Message.Send.Append(nil, &v)
	want := []byte{17, 0x0a, 11}
	want = append(want, "user-123456"...)
	want = append(want, 19, 0, 0xff, 0) // len(all): the whole frame, 18 bytes, +1
	if !bytes.Equal(got, want) {
		t.Errorf("\n got % x\nwant % x", got, want)
	}
	f, n, err := s.Framing.Next(got, false)
	if err != nil || n != len(got) || f.Body != 1 {
		t.Errorf("varint framing: %d of %d, body at %d, %v", n, len(got), f.Body, err)
	}
}

func TestMatchers(t *testing.T) {
	s, err := Parse("f", []byte(`
framing: line
answers:
  - match:
      json: {"push.pub.data.kind": "msg", "push.list.1": "b", "push.channel": "*"}
      capture: {ts: {json: push.pub.data.ts}, tid: {after: '"id":'}}
  - match:
      regex: '^(?P<op>[A-Z]+) (?P<seq>\d+)$'
  - match:
      field: [{offset: 1, size: 2, order: little, equals: 513}]
      capture: {seq: {offset: 3, size: varint}}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := NewValues(s)
	ok := s.Answers[0].Match.Match(Frame{Data: []byte(`{"id": 77, "push" : {"list":["a","b"],"channel":"c\"h","pub":{"data":{"ts":99,"kind":"msg"}}}}`)}, &v)
	ts, _ := v.Number(s.VarIndex("ts"))
	tid, _ := v.Number(s.VarIndex("tid"))
	if !ok || ts != 99 || tid != 77 {
		t.Errorf("json: %v ts %d tid %d", ok, ts, tid)
	}
	if s.Answers[0].Match.Match(Frame{Data: []byte(`{"push":{"pub":{"data":{"kind":"other","ts":1}},"list":["a","b"],"channel":1}}`)}, &v) {
		t.Error("json matched another kind")
	}
	if !s.Answers[1].Match.Match(Frame{Data: []byte("ACK 42")}, &v) || string(v.Text[s.VarIndex("op")]) != "ACK" {
		t.Error("regex captures")
	}
	if !s.Answers[2].Match.Match(Frame{Data: []byte{9, 1, 2, 0x96, 0x01}}, &v) || v.Num[s.VarIndex("seq")] != 150 {
		t.Error("binary field and varint capture")
	}
	if s.Answers[2].Match.Match(Frame{Data: []byte{9, 1}}, &v) {
		t.Error("a field past the frame's end matched")
	}
}

// {jwt} is an HS256 token a verifier written from RFC 7519 accepts, with
// the claims filled and exp added.
func TestJWT(t *testing.T) {
	s := example(t, "centrifugo")
	v := NewValues(s)
	v.UID, v.Unix = 7, uint64(time.Now().Unix())
	tok := string(NewSigner(s.JWT).Token(&v))
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	mac := hmac.New(sha256.New, s.JWT.Secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if sig, _ := base64.RawURLEncoding.DecodeString(parts[2]); !hmac.Equal(sig, mac.Sum(nil)) {
		t.Error("bad signature")
	}
	var hdr, claims map[string]any
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(h, &hdr) != nil || hdr["alg"] != "HS256" || json.Unmarshal(c, &claims) != nil {
		t.Fatalf("header %s claims %s", h, c)
	}
	if claims["sub"] != "7" || claims["exp"].(float64) != float64(v.Unix+3600) {
		t.Errorf("claims %v", claims)
	}
	// {token}: hex HMAC-SHA256 of the decimal uid.
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("7"))
	if got := string(wire.NewTokenMaker([]byte("k")).Token(7)); got != hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("token %s", got)
	}
}

// The message path allocates nothing: building a heartbeat and a message,
// cutting frames and matching them (prefix, json, field captures).
func TestNoAllocations(t *testing.T) {
	for _, name := range []string{"imtool", "goim", "nats", "centrifugo", "socketio"} {
		s := example(t, name)
		v := NewValues(s)
		v.UID, v.Peer, v.TS = 1, 2, 123456789
		buf := make([]byte, 0, 4096)
		var sample []byte
		if s.Message != nil {
			sample = s.Message.Send.Append(nil, &v)
		}
		allocs := testing.AllocsPerRun(200, func() {
			if s.Heartbeat != nil {
				buf = s.Heartbeat.Send.Append(buf[:0], &v)
			}
			if s.Message != nil {
				buf = s.Message.Send.Append(buf[:0], &v)
				f, _, _ := s.Framing.Next(sample, s.IsWS())
				for _, m := range []*Matcher{s.Message.Ack, s.Message.Deliver} {
					if m != nil {
						m.Match(f, &v)
					}
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per heartbeat and message", name, allocs)
		}
	}
}
