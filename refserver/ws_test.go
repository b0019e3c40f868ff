package refserver_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/imtool/imtool/internal/placeholder"
	"github.com/imtool/imtool/internal/wire"
	"github.com/imtool/imtool/internal/ws"
	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// wsGateway is a gateway with one plain port (Addrs[0]) and one WebSocket
// port (Addrs[1]).
func wsGateway(t *testing.T, o refserver.Options) *rt.Gateway {
	o.WSPorts = []uint16{0}
	g := rt.NewGateway(t, o, 1)
	if len(g.Addrs) != 2 {
		t.Fatalf("listening on %v, want a plain and a WebSocket port", g.Addrs)
	}
	return g
}

// wsDial connects with coder/websocket, an independent client.
func wsDial(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/im", &websocket.DialOptions{Subprotocols: []string{"imtool"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || c.Subprotocol() != "imtool" {
		t.Fatalf("HTTP %d, subprotocol %q", resp.StatusCode, c.Subprotocol())
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func wsSend(t *testing.T, c *websocket.Conn, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
}

// wsFrame reads one binary message and decodes the one imtool frame in it.
func wsFrame(t *testing.T, c *websocket.Conn) wire.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, n, err := wire.Decode(b, wire.DefaultMaxFrame)
	if typ != websocket.MessageBinary || err != nil || n != len(b) {
		t.Fatalf("message type %v, %d bytes: %d decoded, %v; want one imtool frame in a binary message", typ, len(b), n, err)
	}
	return f
}

// Over WebSocket the gateway is the same gateway: LOGIN, PING, SEND to a
// client on the plain port and back, ACK and DELIVER; a frame split across
// two messages and two frames in one message are read; WebSocket pings are
// answered.
func TestWebSocketSessions(t *testing.T) {
	g := wsGateway(t, refserver.Options{})
	a := wsDial(t, g.Addrs[1])
	wsSend(t, a, rt.LoginFrame(10, "x"))
	if f := wsFrame(t, a); f.Type != wire.TypeLoginOK || f.UID != 10 {
		t.Fatalf("got %s uid %d, want LOGIN_OK 10", wire.TypeName(f.Type), f.UID)
	}
	b := rt.Dial(t, g.Addrs[0])
	b.Login(20, "x")

	ping := rt.PingFrame(0xABCDEF)
	wsSend(t, a, ping[:5])
	wsSend(t, a, append(ping[5:], rt.PingFrame(0xABCDF0)...))
	for _, ts := range []uint64{0xABCDEF, 0xABCDF0} {
		if f := wsFrame(t, a); f.Type != wire.TypePong || f.TS != ts {
			t.Fatalf("got %s ts %x, want PONG %x", wire.TypeName(f.Type), f.TS, ts)
		}
	}

	wsSend(t, a, rt.SendFrame(77, 20, 1234, "over websocket"))
	if f := wsFrame(t, a); f.Type != wire.TypeAck || f.MsgID != 77 || f.Status != wire.AckDelivered {
		t.Fatalf("got %s msg %d status %d, want ACK 77 delivered", wire.TypeName(f.Type), f.MsgID, f.Status)
	}
	if f := b.Expect(rt.Deliver); f.FromUID != 10 || string(f.Payload) != "over websocket" {
		t.Fatalf("plain client got DELIVER from %d %q", f.FromUID, f.Payload)
	}
	b.Write(rt.SendFrame(78, 10, 1235, "back"))
	b.Expect(rt.Ack)
	if f := wsFrame(t, a); f.Type != wire.TypeDeliver || f.FromUID != 20 || string(f.Payload) != "back" {
		t.Fatalf("got %s from %d %q, want DELIVER from 20 \"back\"", wire.TypeName(f.Type), f.FromUID, f.Payload)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _, _, _ = a.Read(ctx) }() // pongs are read by a reader
	if err := a.Ping(ctx); err != nil {
		t.Fatalf("WebSocket ping not answered: %v", err)
	}
	if err := a.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	rt.Eventually(t, 5*time.Second, "the WebSocket session to be closed", func() bool { return g.Snapshot().Connections == 1 })
	s := g.Snapshot()
	if s.Ports[portOf(g.Addrs[0])] != 1 || s.Ports[portOf(g.Addrs[1])] != 0 {
		t.Fatalf("ports %v: want 1 on the plain port, 0 on the WebSocket port", s.Ports)
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// What breaks the WebSocket rules ends that connection with the close code
// RFC 6455 names, or an HTTP status before the upgrade; imtool errors come
// in a binary message before the close.
func TestWebSocketBadInput(t *testing.T) {
	g := wsGateway(t, refserver.Options{})
	resp, err := http.Get("http://" + g.Addrs[1] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a plain GET got HTTP %d, want 400", resp.StatusCode)
	}
	rt.Eventually(t, 5*time.Second, "the bad upgrade to be counted", func() bool { return g.Snapshot().Errors["ws_bad_upgrade"] == 1 })

	c := wsDial(t, g.Addrs[1])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
		t.Fatalf("a text message: %v, want close 1003", err)
	}

	c = wsDial(t, g.Addrs[1])
	wsSend(t, c, rt.PingFrame(1)) // not LOGIN first
	if f := wsFrame(t, c); f.Type != wire.TypeError || f.Code != wire.CodeNotLoggedIn {
		t.Fatalf("got %s code %d, want ERROR %d", wire.TypeName(f.Type), f.Code, wire.CodeNotLoggedIn)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the ERROR: %v, want close 1000", err)
	}
	rt.Eventually(t, 5*time.Second, "every connection to be closed", func() bool { return g.Snapshot().Connections == 0 })
}

// A full gateway refuses a WebSocket connection with HTTP 503 at once, as
// a plain port answers ERROR 10 at once; the swarm's client reads it as
// ws_upgrade_503 (Go's HTTP client, which reads nothing before its request
// is out, may see only a closed connection).
func TestWebSocketFull(t *testing.T) {
	g := wsGateway(t, refserver.Options{MaxConns: 1})
	first := rt.Dial(t, g.Addrs[0])
	first.Login(1, "x")
	nc, err := net.DialTimeout("tcp4", g.Addrs[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(nc)
	if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 503 Service Unavailable\r\n") {
		t.Fatalf("a full gateway answered %q (%v), want HTTP 503", b, err)
	}
	if got := g.Snapshot().Rejected; got != 1 {
		t.Fatalf("rejected %d, want 1", got)
	}
}

// Bytes split anywhere (the upgrade request, a WebSocket frame header, a
// frame's payload) are kept until the rest comes; a connection that never
// completes its upgrade is closed at the login timeout, without a word.
func TestWebSocketSplitInputAndTimeout(t *testing.T) {
	g := wsGateway(t, refserver.Options{LoginTimeout: 300 * time.Millisecond})
	nc, err := net.DialTimeout("tcp4", g.Addrs[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	key := ws.NewKey(7, 7)
	h, _ := ws.NewHandshake(g.Addrs[1], "/", nil, "")
	stream := h.AppendRequest(nil, &placeholder.Values{}, &key)
	n := len(stream)
	stream = ws.AppendFrame(stream, ws.OpBinary, true, rt.LoginFrame(42, "x"), true, [4]byte{9, 8, 7, 6})
	for i := range stream { // one byte per write; the gateway reads what has come
		if _, err := nc.Write(stream[i : i+1]); err != nil {
			t.Fatal(err)
		}
		if i%16 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var in []byte
	buf := make([]byte, 4096)
	var f ws.Frame
	for {
		k, err := nc.Read(buf)
		in = append(in, buf[:k]...)
		hn, cerr := h.CheckResponse(in, &key)
		if cerr != nil {
			t.Fatalf("upgrade after a request sent byte by byte (%d bytes): %v", n, cerr)
		}
		if hn > 0 {
			if f, k, _ = ws.NextFrame(in[hn:], 1<<16, false); k > 0 {
				break
			}
		}
		if err != nil {
			t.Fatalf("reading: %v (got %q)", err, in)
		}
	}
	if fr, _, err := wire.Decode(f.Payload, 0); err != nil || fr.Type != wire.TypeLoginOK || fr.UID != 42 {
		t.Fatalf("got %s uid %d (%v), want LOGIN_OK 42", wire.TypeName(fr.Type), fr.UID, err)
	}

	silent, err := net.DialTimeout("tcp4", g.Addrs[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(silent); err != nil || len(b) != 0 {
		t.Fatalf("a silent connection got %q (%v); want a close without a word", b, err)
	}
}
