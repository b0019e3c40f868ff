package scenariotest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// cfClient is a raw Centrifugo client written from the protocol (JSON,
// client protocol v2, bidirectional WebSocket): every command and reply
// is one JSON object; one text frame may carry several of them separated
// by "\n" (the server batches whatever is queued); a server ping is the
// empty object {} and the client's pong is {} too.
type cfClient struct {
	t    testing.TB
	name string
	c    *websocket.Conn

	msgs    chan cfMsg    // every message other than a ping
	done    chan struct{} // closed when the read loop ends; then err is set
	err     error
	pong    bool // answer pings
	pings   atomic.Int64
	frames  atomic.Int64
	batched atomic.Int64 // frames that held more than one message
}

type cfMsg struct {
	raw string
	at  time.Time
}

func dialCF(t testing.TB, url, name string, pong bool) *cfClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", name, url, err)
	}
	cl := &cfClient{t: t, name: name, c: c, msgs: make(chan cfMsg, 1000), done: make(chan struct{}), pong: pong}
	t.Cleanup(func() { c.CloseNow(); <-cl.done })
	go cl.read()
	return cl
}

// read is the read loop. A Read with a deadline would close the
// connection when the deadline passes, so reads have no deadline here and
// the tests wait on msgs and done instead.
func (c *cfClient) read() {
	defer close(c.done)
	for {
		typ, b, err := c.c.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.MessageText {
			c.err = errors.New("binary frame from a JSON server")
			return
		}
		c.frames.Add(1)
		parts := strings.Split(string(b), "\n")
		if len(parts) > 1 {
			c.batched.Add(1)
		}
		for _, p := range parts {
			if p == "" {
				continue
			}
			if p == "{}" {
				c.pings.Add(1)
				if c.pong {
					c.c.Write(context.Background(), websocket.MessageText, []byte("{}"))
				}
				continue
			}
			c.msgs <- cfMsg{raw: p, at: time.Now()}
		}
	}
}

func (c *cfClient) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("%s: write %q: %v", c.name, s, err)
	}
}

// next is the next message other than a ping.
func (c *cfClient) next(timeout time.Duration) string {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m.raw
	case <-time.After(timeout):
		c.t.Fatalf("%s: no message within %v", c.name, timeout)
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m.raw
		default:
		}
		c.t.Fatalf("%s: connection ended: %v", c.name, c.err)
	}
	return ""
}

func (c *cfClient) expect(want string) {
	c.t.Helper()
	if got := c.next(3 * time.Second); got != want {
		c.t.Fatalf("%s: got %s\nwant %s", c.name, got, want)
	}
}

// closed waits (at most timeout) for the end of the connection and
// returns the close code and reason the server sent, and how long it took.
func (c *cfClient) closed(timeout time.Duration) (websocket.StatusCode, string, time.Duration) {
	c.t.Helper()
	start := time.Now()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.t.Fatalf("%s: still open after %v", c.name, timeout)
	}
	var ce websocket.CloseError
	if !errors.As(c.err, &ce) {
		c.t.Fatalf("%s: ended without a close frame: %v", c.name, c.err)
	}
	return ce.Code, ce.Reason, time.Since(start)
}

func (c *cfClient) open() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

type cfConnectReply struct {
	ID      int `json:"id"`
	Connect *struct {
		Client  string                     `json:"client"`
		Version string                     `json:"version"`
		Expires bool                       `json:"expires"`
		TTL     int                        `json:"ttl"`
		Subs    map[string]json.RawMessage `json:"subs"`
		Ping    int                        `json:"ping"`
		Pong    bool                       `json:"pong"`
	} `json:"connect"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// connect sends the connect command with token as id 1 and returns the
// reply, checked to be a success.
func (c *cfClient) connect(token string) cfConnectReply {
	c.t.Helper()
	c.send(`{"id":1,"connect":{"token":"` + token + `","name":"imtool"}}`)
	raw := c.next(3 * time.Second)
	var r cfConnectReply
	if err := json.Unmarshal([]byte(raw), &r); err != nil || r.ID != 1 || r.Connect == nil || r.Connect.Client == "" {
		c.t.Fatalf("%s: connect reply %s (%v)", c.name, raw, err)
	}
	c.t.Logf("%s <- %s", c.name, raw)
	return r
}

func cfWaitClients(t testing.TB, s *Centrifugo, want int) {
	t.Helper()
	if got, err := s.WaitClients(want, 3*time.Second); err != nil || got != want {
		t.Fatalf("centrifugo counts %d clients (err %v), want %d", got, err, want)
	}
}

// TestCentrifugoPingPong: a client answering the server's {} pings with {}
// outlives several ping intervals, and the server counts it.
func TestCentrifugoPingPong(t *testing.T) {
	s := StartCentrifugo(t, CentrifugoOptions{PingInterval: time.Second, PongTimeout: 500 * time.Millisecond})
	a := dialCF(t, s.WSURL, "a", true)
	r := a.connect(s.Token("1"))
	if r.Connect.Ping != 1 || !r.Connect.Pong || !r.Connect.Expires || r.Connect.TTL <= 0 {
		t.Errorf("connect reply %+v: want ping 1 (s), pong true, expires, ttl", *r.Connect)
	}
	if _, ok := r.Connect.Subs["chat:1"]; !ok || len(r.Connect.Subs) != 1 {
		t.Errorf("connect reply subs %v: want chat:1 only", r.Connect.Subs)
	}
	cfWaitClients(t, s, 1)

	time.Sleep(4500 * time.Millisecond)
	if !a.open() {
		t.Fatalf("closed while answering pings: %v", a.err)
	}
	if n := a.pings.Load(); n < 3 {
		t.Fatalf("%d pings in 4.5 s at ping_interval 1s", n)
	}
	if n, err := s.Clients(); err != nil || n != 1 {
		t.Fatalf("centrifugo counts %d clients (%v), want 1", n, err)
	}
	// The info API's figure trails by up to 3 s; by now it has caught up.
	if n, err := pollFigure(s.InfoClients, 1, 4*time.Second); err != nil || n != 1 {
		t.Fatalf("info num_clients %d (%v), want 1", n, err)
	}
	a.c.Close(websocket.StatusNormalClosure, "")
	cfWaitClients(t, s, 0)
}

// TestCentrifugoPublish: b publishes into a's personal channel chat:1 and
// a gets the publication as a push; replies and pushes are checked byte
// for byte.
func TestCentrifugoPublish(t *testing.T) {
	s := StartCentrifugo(t, CentrifugoOptions{})
	a := dialCF(t, s.WSURL, "a", true)
	b := dialCF(t, s.WSURL, "b", true)
	a.connect(s.Token("1"))
	bc := b.connect(s.Token("2")).Connect.Client
	cfWaitClients(t, s, 2)

	b.send(`{"id":2,"publish":{"channel":"chat:1","data":{"text":"hi"}}}`)
	b.expect(`{"id":2,"publish":{}}`)
	a.expect(`{"push":{"channel":"chat:1","pub":{"data":{"text":"hi"},"info":{"user":"2","client":"` + bc + `"}}}}`)

	// Two commands in one frame, separated by a newline: two replies,
	// two pushes, in order (the server may put them in one frame).
	b.send(`{"id":3,"publish":{"channel":"chat:1","data":{"n":1}}}` + "\n" + `{"id":4,"publish":{"channel":"chat:1","data":{"n":2}}}`)
	b.expect(`{"id":3,"publish":{}}`)
	b.expect(`{"id":4,"publish":{}}`)
	a.expect(`{"push":{"channel":"chat:1","pub":{"data":{"n":1},"info":{"user":"2","client":"` + bc + `"}}}}`)
	a.expect(`{"push":{"channel":"chat:1","pub":{"data":{"n":2},"info":{"user":"2","client":"` + bc + `"}}}}`)
	t.Logf("frames holding several messages: a %d of %d, b %d of %d", a.batched.Load(), a.frames.Load(), b.batched.Load(), b.frames.Load())

	// Refusals are error replies; the connection stays.
	b.send(`{"id":5,"publish":{"channel":"other:1","data":{}}}`)
	b.expect(`{"id":5,"error":{"code":102,"message":"unknown channel"}}`)
	b.send(`{"id":6,"publish":{"channel":"nonamespace","data":{}}}`)
	b.expect(`{"id":6,"error":{"code":103,"message":"permission denied"}}`)
	b.send(`{"id":7,"subscribe":{"channel":"chat:9"}}`)
	b.expect(`{"id":7,"error":{"code":103,"message":"permission denied"}}`)
	if !b.open() {
		t.Fatalf("b closed after refusals: %v", b.err)
	}
	select {
	case m := <-a.msgs:
		t.Fatalf("a got %s", m.raw)
	default:
	}
}

// TestCentrifugoNoPong: a client that does not answer the ping is closed
// with code 3012 "no pong" once the pong timeout has passed.
func TestCentrifugoNoPong(t *testing.T) {
	s := StartCentrifugo(t, CentrifugoOptions{PingInterval: time.Second, PongTimeout: 500 * time.Millisecond})
	a := dialCF(t, s.WSURL, "a", false)
	a.connect(s.Token("1"))
	cfWaitClients(t, s, 1)
	code, reason, took := a.closed(5 * time.Second)
	if code != 3012 || reason != "no pong" || a.pings.Load() != 1 {
		t.Fatalf("closed with %d %q after %d pings, want 3012 \"no pong\" after 1", code, reason, a.pings.Load())
	}
	t.Logf("closed %d %q %v after connect", code, reason, took)
	cfWaitClients(t, s, 0)
}

// TestCentrifugoBadToken: a token signed with another secret, or not a
// JWT, is refused with close code 3500 "invalid token" and no reply; an
// expired one gets error reply 109 "token expired" and the connection
// stays (for a client to retry with a fresh token); none is counted.
func TestCentrifugoBadToken(t *testing.T) {
	s := StartCentrifugo(t, CentrifugoOptions{})
	for _, tc := range []struct{ name, token string }{
		{"wrong secret", CentrifugoJWT("not-the-secret", map[string]any{"sub": "1", "exp": time.Now().Add(time.Hour).Unix()})},
		{"not a jwt", "garbage"},
	} {
		a := dialCF(t, s.WSURL, tc.name, false)
		a.send(`{"id":1,"connect":{"token":"` + tc.token + `"}}`)
		code, reason, _ := a.closed(3 * time.Second)
		if code != 3500 || reason != "invalid token" {
			t.Errorf("%s: closed %d %q, want 3500 \"invalid token\"", tc.name, code, reason)
		}
		select {
		case m := <-a.msgs:
			t.Errorf("%s: got %s before the close", tc.name, m.raw)
		default:
		}
	}

	a := dialCF(t, s.WSURL, "expired", false)
	a.send(`{"id":1,"connect":{"token":"` + s.TokenClaims(map[string]any{"sub": "1", "exp": time.Now().Add(-time.Minute).Unix()}) + `"}}`)
	a.expect(`{"id":1,"error":{"code":109,"message":"token expired"}}`)

	b := dialCF(t, s.WSURL, "no token", false)
	b.send(`{"id":1,"connect":{}}`)
	if code, reason, _ := b.closed(3 * time.Second); code != 3501 || reason != "bad request" {
		t.Errorf("no token: closed %d %q, want 3501 \"bad request\"", code, reason)
	}
	if n, err := s.Clients(); err != nil || n != 0 {
		t.Fatalf("centrifugo counts %d clients (%v), want 0", n, err)
	}
	if !a.open() {
		t.Errorf("expired: closed at once: %v", a.err)
	}
}
