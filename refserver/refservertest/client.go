// Package refservertest helps tests talk to the reference gateway, in the
// style of net/http/httptest: a protocol client written from
// docs/PROTOCOL.md alone (it does not share the gateway's codec, so the two
// check each other), gateways on free loopback ports, and helpers to build
// and run the imtool binary as real processes that tests can kill.
package refservertest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// Frame types and codes of PROTOCOL.md, spelled out again on purpose.
const (
	Login     = 0x01
	LoginOK   = 0x02
	Ping      = 0x03
	Pong      = 0x04
	Send      = 0x05
	Ack       = 0x06
	Deliver   = 0x07
	Broadcast = 0x08
	Logout    = 0x09
	Error     = 0x0A
	Kick      = 0x0B
)

// Frame is a frame as the client read it, with the fields of its type.
type Frame struct {
	Type                         byte
	Body                         []byte
	UID, SessionID, ServerMs, TS uint64
	MsgID, FromUID, SentTS       uint64
	Status                       uint8
	Code                         uint16
	Reason, Payload              string
}

func (f Frame) String() string {
	switch f.Type {
	case Error:
		return fmt.Sprintf("ERROR %d %q", f.Code, f.Reason)
	case Kick:
		return fmt.Sprintf("KICK %d", f.Code)
	case Ack:
		return fmt.Sprintf("ACK msg %d status %d", f.MsgID, f.Status)
	}
	return fmt.Sprintf("frame 0x%02x (%d body bytes)", f.Type, len(f.Body))
}

// Client is one blocking protocol connection for tests.
type Client struct {
	t    testing.TB
	Conn net.Conn
	r    *bufio.Reader
}

// Dial connects to a gateway; the connection is closed at cleanup.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{t: t, Conn: c, r: bufio.NewReader(c)}
}

// Write sends raw bytes.
func (c *Client) Write(b []byte) {
	c.t.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Frame builds one frame: u32 length (type + body), type, body.
func FrameBytes(typ byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)+1))
	b = append(b, typ)
	return append(b, body...)
}

func u64s(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// LoginFrame is LOGIN uid with token.
func LoginFrame(uid uint64, token string) []byte {
	body := u64s(uid)
	body = binary.BigEndian.AppendUint16(body, uint16(len(token)))
	return FrameBytes(Login, append(body, token...))
}

// PingFrame is PING ts.
func PingFrame(ts uint64) []byte { return FrameBytes(Ping, u64s(ts)) }

// SendFrame is SEND msgID to uid with sentTS and payload.
func SendFrame(msgID, to, sentTS uint64, payload string) []byte {
	return FrameBytes(Send, append(u64s(msgID, to, sentTS), payload...))
}

// BroadcastFrame is BROADCAST msgID with sentTS and payload.
func BroadcastFrame(msgID, sentTS uint64, payload string) []byte {
	return FrameBytes(Broadcast, append(u64s(msgID, sentTS), payload...))
}

// LogoutFrame is LOGOUT.
func LogoutFrame() []byte { return FrameBytes(Logout, nil) }

// Login logs in and expects LOGIN_OK for uid.
func (c *Client) Login(uid uint64, token string) Frame {
	c.t.Helper()
	c.Write(LoginFrame(uid, token))
	f := c.Expect(LoginOK)
	if f.UID != uid {
		c.t.Fatalf("LOGIN_OK for uid %d, want %d", f.UID, uid)
	}
	return f
}

// Read reads one frame, waiting up to d.
func (c *Client) Read(d time.Duration) (Frame, error) {
	c.Conn.SetReadDeadline(time.Now().Add(d))
	typ, body, err := readFrame(c.r)
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Type: typ, Body: body}
	return f, f.parse()
}

func (f *Frame) parse() error {
	b := f.Body
	need := func(n int) error {
		if len(b) < n {
			return fmt.Errorf("frame 0x%02x body %d bytes, want ≥ %d", f.Type, len(b), n)
		}
		return nil
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[i:]) }
	switch f.Type {
	case LoginOK:
		if err := need(24); err != nil {
			return err
		}
		f.UID, f.SessionID, f.ServerMs = u(0), u(8), u(16)
	case Pong:
		if err := need(8); err != nil {
			return err
		}
		f.TS = u(0)
	case Ack:
		if err := need(9); err != nil {
			return err
		}
		f.MsgID, f.Status = u(0), b[8]
	case Deliver:
		if err := need(24); err != nil {
			return err
		}
		f.MsgID, f.FromUID, f.SentTS, f.Payload = u(0), u(8), u(16), string(b[24:])
	case Error:
		if err := need(4); err != nil {
			return err
		}
		f.Code = binary.BigEndian.Uint16(b)
		rl := int(binary.BigEndian.Uint16(b[2:]))
		if len(b) != 4+rl {
			return fmt.Errorf("ERROR reason_len %d but %d bytes follow", rl, len(b)-4)
		}
		f.Reason = string(b[4:])
	case Kick:
		if err := need(2); err != nil {
			return err
		}
		f.Code = binary.BigEndian.Uint16(b)
	default:
		return fmt.Errorf("gateway sent unknown frame type 0x%02x", f.Type)
	}
	return nil
}

// Expect reads the next frame and fails unless it has type typ.
func (c *Client) Expect(typ byte) Frame {
	c.t.Helper()
	f, err := c.Read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for frame 0x%02x: %v", typ, err)
	}
	if f.Type != typ {
		c.t.Fatalf("got %v, want frame 0x%02x", f, typ)
	}
	return f
}

// ExpectError reads ERROR code, then expects the gateway to close.
func (c *Client) ExpectError(code uint16) {
	c.t.Helper()
	f := c.Expect(Error)
	if f.Code != code {
		c.t.Fatalf("got %v, want ERROR %d", f, code)
	}
	c.ExpectClosed()
}

// ExpectClosed reads until the gateway closes the connection, failing on
// any frame or a timeout.
func (c *Client) ExpectClosed() {
	c.t.Helper()
	f, err := c.Read(5 * time.Second)
	if err == nil {
		c.t.Fatalf("got %v, want the connection closed", f)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("the gateway did not close the connection")
	}
}
