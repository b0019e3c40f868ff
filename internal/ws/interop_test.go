package ws_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/imtool/imtool/internal/placeholder"
	"github.com/imtool/imtool/internal/ws"
	"github.com/imtool/imtool/internal/ws/wsecho"
)

// client is a blocking client written from this package only.
type client struct {
	nc  net.Conn
	dec *ws.Decoder
	key [4]byte
}

// upgrade dials addr and runs the handshake h; the error is the one
// CheckResponse gave.
func upgrade(t *testing.T, addr string, h *ws.Handshake) (*client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	key := ws.NewKey(0x0123456789abcdef, 42)
	if _, err := nc.Write(h.AppendRequest(nil, &placeholder.Values{UID: 7, I: 3}, &key)); err != nil {
		t.Fatal(err)
	}
	var in []byte
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		in = append(in, buf[:n]...)
		hn, cerr := h.CheckResponse(in, &key)
		if cerr != nil {
			return nil, cerr
		}
		if hn > 0 {
			c := &client{nc: nc, dec: ws.NewDecoder(1<<20, false), key: [4]byte{1, 2, 3, 4}}
			c.dec.Feed(in[hn:])
			return c, nil
		}
		if err != nil {
			t.Fatalf("reading the upgrade response: %v", err)
		}
	}
}

func (c *client) send(t *testing.T, op byte, fin bool, p []byte) {
	t.Helper()
	if _, err := c.nc.Write(ws.AppendFrame(nil, op, fin, p, true, c.key)); err != nil {
		t.Fatal(err)
	}
}

func (c *client) next(t *testing.T) (ws.Message, error) {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		m, ok, err := c.dec.Next()
		if err != nil || ok {
			return ws.Message{Op: m.Op, Data: bytes.Clone(m.Data)}, err
		}
		n, rerr := c.nc.Read(buf)
		c.dec.Feed(buf[:n])
		if rerr != nil && n == 0 {
			return ws.Message{}, rerr
		}
	}
}

func mustHandshake(t *testing.T, host, path string, headers []string, proto string) *ws.Handshake {
	t.Helper()
	h, err := ws.NewHandshake(host, path, headers, proto)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Against coder/websocket: the upgrade (101, Accept, subprotocol) passes
// its checks and ours, masked messages echo, a message the server
// fragments is reassembled, and a ping is answered with its payload.
func TestInteropEcho(t *testing.T) {
	s := wsecho.New(t, wsecho.Options{Subprotocols: []string{"imtool"}, Fragment: 7})
	c, err := upgrade(t, s.Addr, mustHandshake(t, s.Addr, "/chat?u={uid}", []string{"Authorization: Bearer t-{uid}-{i}"}, "imtool"))
	if err != nil {
		t.Fatal(err)
	}
	text := []byte("héllo, {uid} " + strings.Repeat("x", 300))
	c.send(t, ws.OpText, true, text)
	m, err := c.next(t)
	if err != nil || m.Op != ws.OpText || !bytes.Equal(m.Data, text) {
		t.Fatalf("echo of a text message: op %x, %d bytes, err %v; want op 1 and %d bytes", m.Op, len(m.Data), err, len(text))
	}
	// A binary message sent in three fragments, with a ping between them.
	c.send(t, ws.OpBinary, false, []byte{0, 1, 2})
	c.send(t, ws.OpPing, true, []byte("rtt-1"))
	c.send(t, ws.OpContinuation, false, []byte{3, 4})
	c.send(t, ws.OpContinuation, true, bytes.Repeat([]byte{5}, 70000))
	m, err = c.next(t)
	if err != nil || m.Op != ws.OpPong || string(m.Data) != "rtt-1" {
		t.Fatalf("pong: op %x %q err %v; want op a \"rtt-1\"", m.Op, m.Data, err)
	}
	m, err = c.next(t)
	want := append([]byte{0, 1, 2, 3, 4}, bytes.Repeat([]byte{5}, 70000)...)
	if err != nil || m.Op != ws.OpBinary || !bytes.Equal(m.Data, want) {
		t.Fatalf("echo of a fragmented binary message: op %x, %d bytes, err %v; want op 2, %d bytes", m.Op, len(m.Data), err, len(want))
	}
	if got := s.Msgs.Load(); got != 2 {
		t.Fatalf("the server echoed %d messages, want 2", got)
	}
}

// A server that refuses the upgrade is classified by its HTTP status, which
// the error's text carries; 101 without the right Accept is invalid.
func TestInteropRefused(t *testing.T) {
	for status, class := range map[int]string{
		http.StatusUnauthorized: ws.ClassUpgrade401, http.StatusForbidden: ws.ClassUpgrade403,
		http.StatusTooManyRequests: ws.ClassUpgrade429, http.StatusServiceUnavailable: ws.ClassUpgrade503,
		http.StatusNotFound: ws.ClassUpgradeStatus,
	} {
		s := wsecho.New(t, wsecho.Options{Refuse: status})
		_, err := upgrade(t, s.Addr, mustHandshake(t, s.Addr, "/", nil, ""))
		var ue *ws.UpgradeError
		if !errors.As(err, &ue) || ue.Status != status || ue.Class() != class {
			t.Fatalf("refused with %d: got %v, want an UpgradeError of class %s", status, err, class)
		}
		if !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(status)) {
			t.Fatalf("error %q does not name the status %d", err, status)
		}
	}
}

// A server asked for a subprotocol it does not speak answers without one:
// the handshake fails, as the client asked for it.
func TestInteropSubprotocolMissing(t *testing.T) {
	s := wsecho.New(t, wsecho.Options{Subprotocols: []string{"other"}})
	_, err := upgrade(t, s.Addr, mustHandshake(t, s.Addr, "/", nil, "imtool"))
	var ue *ws.UpgradeError
	if !errors.As(err, &ue) || ue.Class() != ws.ClassUpgradeInvalid || !strings.Contains(err.Error(), "subprotocol") {
		t.Fatalf("got %v, want an invalid upgrade about the subprotocol", err)
	}
}

// A server that closes with 1008 is read as a close frame of class policy.
func TestInteropClosePolicy(t *testing.T) {
	s := wsecho.New(t, wsecho.Options{CloseCode: websocket.StatusPolicyViolation, CloseAfter: 1})
	c, err := upgrade(t, s.Addr, mustHandshake(t, s.Addr, "/", nil, ""))
	if err != nil {
		t.Fatal(err)
	}
	c.send(t, ws.OpBinary, true, []byte("one"))
	if m, err := c.next(t); err != nil || string(m.Data) != "one" {
		t.Fatalf("echo: %q %v", m.Data, err)
	}
	m, err := c.next(t)
	if err != nil || m.Op != ws.OpClose {
		t.Fatalf("got op %x err %v, want a close frame", m.Op, err)
	}
	code, reason, err := ws.ParseClose(m.Data)
	if err != nil || code != ws.ClosePolicyViolation || ws.CloseClass(code) != ws.ClassClosePolicy || string(reason) != "closed by the test server" {
		t.Fatalf("close %d %q %v: want 1008 of class %s", code, reason, err, ws.ClassClosePolicy)
	}
	if ws.CloseName(code) != "1008 policy violation" {
		t.Fatalf("CloseName(1008) = %q", ws.CloseName(code))
	}
}

// The server side (ParseRequest, AppendAccept, a server Decoder) against
// coder/websocket's client: it dials, negotiates the subprotocol, pings,
// and gets its messages back; a bad version gets 426.
func TestInteropServerSide(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveEcho(nc)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/x", &websocket.DialOptions{Subprotocols: []string{"imtool"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if c.Subprotocol() != "imtool" {
		t.Fatalf("subprotocol %q, want imtool", c.Subprotocol())
	}
	readDone := make(chan struct{})
	var got [][]byte
	go func() {
		defer close(readDone)
		for range 2 {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			got = append(got, b)
		}
	}()
	msgs := [][]byte{[]byte("short"), bytes.Repeat([]byte("y"), 100000)}
	for _, m := range msgs {
		if err := c.Write(ctx, websocket.MessageBinary, m); err != nil {
			t.Fatal(err)
		}
	}
	<-readDone
	if len(got) != 2 || !bytes.Equal(got[0], msgs[0]) || !bytes.Equal(got[1], msgs[1]) {
		t.Fatalf("echoed %d messages, want both back intact", len(got))
	}
	go func() { _, _, _ = c.Read(ctx) }() // pongs are read by a reader
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	_ = c.Close(websocket.StatusNormalClosure, "")

	resp, err := http.DefaultClient.Do(mustReq(t, "http://"+ln.Addr().String()+"/", map[string]string{
		"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
	}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 426 || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Fatalf("version 8: HTTP %d, version %q; want 426 and 13", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Version"))
	}
}

func mustReq(t *testing.T, url string, h map[string]string) *http.Request {
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return r
}

// serveEcho is a server written from this package only.
func serveEcho(nc net.Conn) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	var in []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := nc.Read(buf)
		in = append(in, buf[:n]...)
		hn, r, perr := ws.ParseRequest(in)
		var ue *ws.UpgradeError
		if errors.As(perr, &ue) {
			_, _ = nc.Write(ws.AppendRefusal(nil, ue.Status, ue.Msg))
			return
		}
		if hn > 0 {
			proto := ""
			if bytes.Contains(r.Protocols, []byte("imtool")) {
				proto = "imtool"
			}
			if _, err := nc.Write(ws.AppendAccept(nil, r.Key, proto)); err != nil {
				return
			}
			in = in[hn:]
			break
		}
		if err != nil {
			return
		}
	}
	dec := ws.NewDecoder(1<<20, true)
	dec.Feed(in)
	for {
		for {
			m, ok, err := dec.Next()
			if err != nil {
				var we *ws.Error
				errors.As(err, &we)
				_, _ = nc.Write(ws.AppendClose(nil, we.Code, we.Msg, false, [4]byte{}))
				return
			}
			if !ok {
				break
			}
			var out []byte
			switch m.Op {
			case ws.OpPing:
				out = ws.AppendFrame(nil, ws.OpPong, true, m.Data, false, [4]byte{})
			case ws.OpClose:
				_, _ = nc.Write(ws.AppendFrame(nil, ws.OpClose, true, m.Data, false, [4]byte{}))
				return
			case ws.OpText, ws.OpBinary:
				out = ws.AppendFrame(nil, m.Op, true, m.Data, false, [4]byte{})
			}
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
		n, err := nc.Read(buf)
		dec.Feed(buf[:n])
		if err != nil {
			return
		}
	}
}
