package scenariotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// eioFrame is one WebSocket message the server sent.
type eioFrame struct {
	typ  websocket.MessageType
	data string
	at   time.Time
}

// eioClient is a raw Engine.IO v4 / Socket.IO v5 client over coder/websocket,
// written from the protocol specs: every packet is one text frame, its
// first character the Engine.IO type (0 open, 1 close, 2 ping, 3 pong,
// 4 message), a message's next character the Socket.IO type (0 CONNECT,
// 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR), then an optional ack id
// and the JSON.
type eioClient struct {
	t      testing.TB
	c      *websocket.Conn
	ctx    context.Context
	frames chan eioFrame
	done   chan struct{} // closed when the reader ends
	err    error         // why the reader ended; read after done
	pong   atomic.Bool   // answer each ping 2 with a pong 3
	pings  atomic.Int64  // pings received
}

func dialEIO(t testing.TB, url string, pong bool) *eioClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	defer dcancel()
	c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		cancel()
		t.Fatalf("dial %s: %v", url, err)
	}
	e := &eioClient{t: t, c: c, ctx: ctx, frames: make(chan eioFrame, 1024), done: make(chan struct{})}
	e.pong.Store(pong)
	go e.read()
	t.Cleanup(func() {
		c.Close(websocket.StatusNormalClosure, "")
		cancel()
		<-e.done
	})
	return e
}

func (e *eioClient) read() {
	defer close(e.done)
	for {
		typ, b, err := e.c.Read(e.ctx)
		if err != nil {
			e.err = err
			return
		}
		f := eioFrame{typ: typ, data: string(b), at: time.Now()}
		if f.data == "2" {
			e.pings.Add(1)
			if e.pong.Load() {
				if err := e.c.Write(e.ctx, websocket.MessageText, []byte("3")); err != nil {
					e.err = err
					return
				}
			}
		}
		select {
		case e.frames <- f:
		default:
			e.err = errors.New("client's frame buffer is full")
			return
		}
	}
}

func (e *eioClient) send(s string) {
	e.t.Helper()
	if err := e.c.Write(e.ctx, websocket.MessageText, []byte(s)); err != nil {
		e.t.Fatalf("send %q: %v", s, err)
	}
}

// next is the next frame other than a ping, checked to be one text packet.
func (e *eioClient) next(timeout time.Duration) eioFrame {
	e.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f := <-e.frames:
			sioCheckOnePacket(e.t, f)
			if f.data == "2" {
				continue
			}
			return f
		case <-deadline:
			e.t.Fatalf("no packet within %v", timeout)
		case <-e.done:
			// Drain what came before the end.
			select {
			case f := <-e.frames:
				sioCheckOnePacket(e.t, f)
				if f.data != "2" {
					return f
				}
				continue
			default:
			}
			e.t.Fatalf("connection ended: %v", e.err)
		}
	}
}

// expect reads the next non-ping packet and checks it is want.
func (e *eioClient) expect(want string) {
	e.t.Helper()
	if got := e.next(5 * time.Second).data; got != want {
		e.t.Fatalf("got %q, want %q", got, want)
	}
}

// sioCheckOnePacket checks a frame is text and holds exactly one Engine.IO
// packet: Engine.IO v4 over WebSocket sends one packet per frame, and only
// the polling transport joins packets with the record separator 0x1e.
func sioCheckOnePacket(t testing.TB, f eioFrame) {
	t.Helper()
	if f.typ != websocket.MessageText {
		t.Fatalf("binary frame %x", f.data)
	}
	if f.data == "" || f.data[0] < '0' || f.data[0] > '6' {
		t.Fatalf("frame %q does not start with an Engine.IO packet type", f.data)
	}
	if strings.ContainsRune(f.data, 0x1e) {
		t.Fatalf("frame %q holds several packets (record separator)", f.data)
	}
}

var (
	sioOpenRe    = regexp.MustCompile(`^0\{"sid":"[A-Za-z0-9_-]+","upgrades":\[\],"pingInterval":(\d+),"pingTimeout":(\d+),"maxPayload":1000000\}$`)
	sioConnectRe = regexp.MustCompile(`^40\{"sid":"[A-Za-z0-9_-]+"\}$`)
)

// open reads the open packet and checks its ping figures.
func (e *eioClient) open(pingInterval, pingTimeout time.Duration) string {
	e.t.Helper()
	f := e.next(5 * time.Second)
	m := sioOpenRe.FindStringSubmatch(f.data)
	if m == nil {
		e.t.Fatalf("open packet %q does not match %s", f.data, sioOpenRe)
	}
	if m[1] != fmt.Sprint(pingInterval.Milliseconds()) || m[2] != fmt.Sprint(pingTimeout.Milliseconds()) {
		e.t.Fatalf("open packet %q: want pingInterval %d, pingTimeout %d", f.data, pingInterval.Milliseconds(), pingTimeout.Milliseconds())
	}
	var o struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(f.data[1:]), &o); err != nil {
		e.t.Fatal(err)
	}
	return f.data
}

// connect sends the Socket.IO CONNECT with auth and checks the reply.
func (e *eioClient) connect(token, uid string) string {
	e.t.Helper()
	e.send(`40{"token":"` + token + `","uid":"` + uid + `"}`)
	f := e.next(5 * time.Second)
	if !sioConnectRe.MatchString(f.data) {
		e.t.Fatalf("CONNECT reply %q does not match %s", f.data, sioConnectRe)
	}
	return f.data
}

func sioWaitCount(t testing.TB, s *SocketIO, want SocketIOCount) {
	t.Helper()
	var got SocketIOCount
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err = s.Count(); err == nil && got == want {
			return
		}
	}
	t.Fatalf("count %+v (err %v), want %+v", got, err, want)
}

// TestSocketIOSession: handshake, auth, ≥3 ping rounds answered, the
// server's count, an event with an ack and its delivery, one packet a frame.
func TestSocketIOSession(t *testing.T) {
	const interval, timeout = 500 * time.Millisecond, 1000 * time.Millisecond
	s := StartSocketIO(t, SocketIOOptions{PingInterval: interval, PingTimeout: timeout, Token: "tok-1"})

	c1 := dialEIO(t, s.URL, true)
	t.Logf("server open packet: %s", c1.open(interval, timeout))
	t.Logf(`client CONNECT 40{"token":"tok-1","uid":"1"} → %s`, c1.connect("tok-1", "1"))
	c2 := dialEIO(t, s.URL, true)
	c2.open(interval, timeout)
	c2.connect("tok-1", "2")
	sioWaitCount(t, s, SocketIOCount{Clients: 2, Sockets: 2})

	// Survive more than 3 ping intervals, answering each ping.
	start := time.Now()
	time.Sleep(4 * interval)
	if n := c1.pings.Load(); n < 3 {
		t.Fatalf("client 1 got %d pings in %v, want ≥ 3", n, time.Since(start))
	}
	if n := c2.pings.Load(); n < 3 {
		t.Fatalf("client 2 got %d pings in %v, want ≥ 3", n, time.Since(start))
	}
	if n, err := s.Clients(); err != nil || n != 2 {
		t.Fatalf("Clients() = %d, %v after the pings; want 2", n, err)
	}
	if n, err := s.Sockets(); err != nil || n != 2 {
		t.Fatalf("Sockets() = %d, %v after the pings; want 2", n, err)
	}

	// An event with an ack from 2 to 1.
	c2.send(`421["msg","1",{"seq":1,"ts":123}]`)
	c2.expect(`431["ok"]`)
	c1.expect(`42["msg",{"seq":1,"ts":123}]`)

	// Many back to back: each delivery and each ack is its own frame.
	const n = 50
	for i := 0; i < n; i++ {
		c2.send(fmt.Sprintf(`42%d["msg","1",{"seq":%d}]`, 100+i, i))
	}
	for i := 0; i < n; i++ {
		c2.expect(fmt.Sprintf(`43%d["ok"]`, 100+i))
		c1.expect(fmt.Sprintf(`42["msg",{"seq":%d}]`, i))
	}

	// No ack id: delivered, nothing back. A message to oneself is delivered too.
	c1.send(`42["msg","1",{"self":true}]`)
	c1.expect(`42["msg",{"self":true}]`)

	// Client 2 leaves with a Socket.IO DISCONNECT: its socket goes, the
	// Engine.IO connection stays.
	c2.send(`41`)
	sioWaitCount(t, s, SocketIOCount{Clients: 2, Sockets: 1})
	// Over WebSocket the server ignores an Engine.IO close packet 1 (only
	// its polling transport reads one): the connection stays until the
	// client closes the WebSocket.
	c2.send(`1`)
	time.Sleep(200 * time.Millisecond)
	sioWaitCount(t, s, SocketIOCount{Clients: 2, Sockets: 1})
	c2.c.Close(websocket.StatusNormalClosure, "")
	sioWaitCount(t, s, SocketIOCount{Clients: 1, Sockets: 1})
}

// TestSocketIORefused: a wrong token or a missing uid is refused with a
// CONNECT_ERROR; the Engine.IO connection stays up and may CONNECT again.
func TestSocketIORefused(t *testing.T) {
	const interval, timeout = 500 * time.Millisecond, 1000 * time.Millisecond
	s := StartSocketIO(t, SocketIOOptions{PingInterval: interval, PingTimeout: timeout, Token: "tok-2"})
	c := dialEIO(t, s.URL, true)
	c.open(interval, timeout)
	for _, bad := range []string{
		`40{"token":"wrong","uid":"1"}`,
		`40{"token":"tok-2"}`,
		`40`,
	} {
		c.send(bad)
		f := c.next(5 * time.Second)
		if f.data != `44{"message":"Not authorized"}` {
			t.Fatalf("%s → %q, want 44{\"message\":\"Not authorized\"}", bad, f.data)
		}
		t.Logf("%s → %s (frame bytes %x)", bad, f.data, f.data)
	}
	sioWaitCount(t, s, SocketIOCount{Clients: 1, Sockets: 0})
	// Still pinged after the refusal.
	p := c.pings.Load()
	time.Sleep(2 * interval)
	if c.pings.Load() <= p {
		t.Fatal("no ping after the refusal: the connection was dropped")
	}
	c.connect("tok-2", "9")
	sioWaitCount(t, s, SocketIOCount{Clients: 1, Sockets: 1})
}

// TestSocketIOMissedPong: a client that does not answer a ping is closed
// PingTimeout after that ping, with a WebSocket close frame without a
// status (1005) and no Engine.IO close packet before it.
func TestSocketIOMissedPong(t *testing.T) {
	const interval, timeout = 500 * time.Millisecond, 700 * time.Millisecond
	s := StartSocketIO(t, SocketIOOptions{PingInterval: interval, PingTimeout: timeout})
	c := dialEIO(t, s.URL, false)
	c.open(interval, timeout)
	c.connect(s.Token, "1")
	var ping time.Time
	var frames []string
	for {
		select {
		case f := <-c.frames:
			sioCheckOnePacket(t, f)
			frames = append(frames, f.data)
			if f.data == "2" && ping.IsZero() {
				ping = f.at
			}
			continue
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Fatal("not closed within 5 s of not answering pings")
		}
		break
	}
	for len(c.frames) > 0 {
		frames = append(frames, (<-c.frames).data)
	}
	closed := time.Now()
	if ping.IsZero() {
		t.Fatalf("closed before any ping: %v", c.err)
	}
	after := closed.Sub(ping)
	st := websocket.CloseStatus(c.err)
	t.Logf("frames after CONNECT: %q; closed %v after the unanswered ping; close status %d (%v)", frames, after.Round(time.Millisecond), st, c.err)
	if after < timeout-50*time.Millisecond || after > timeout+500*time.Millisecond {
		t.Fatalf("closed %v after the ping, want about the ping timeout %v", after, timeout)
	}
	if len(frames) != 1 || frames[0] != "2" {
		t.Fatalf("frames before the close %q, want just the ping", frames)
	}
	if st != websocket.StatusNoStatusRcvd {
		t.Fatalf("close status %d, want %d (no status code in the close frame)", st, websocket.StatusNoStatusRcvd)
	}
	sioWaitCount(t, s, SocketIOCount{})
}

// TestSocketIOClientPing: in Engine.IO v4 only the server pings; a client
// ping 2 is "invalid heartbeat direction" and closes the connection.
func TestSocketIOClientPing(t *testing.T) {
	const interval, timeout = 5 * time.Second, 5 * time.Second
	s := StartSocketIO(t, SocketIOOptions{PingInterval: interval, PingTimeout: timeout})
	c := dialEIO(t, s.URL, true)
	c.open(interval, timeout)
	c.connect(s.Token, "1")
	c.send("2")
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		t.Fatal("a client ping did not close the connection")
	}
	t.Logf("client ping 2 → closed: status %d (%v)", websocket.CloseStatus(c.err), c.err)
	sioWaitCount(t, s, SocketIOCount{})
}
