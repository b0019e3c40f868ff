package scenariotest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// natsClient is a raw NATS client written from the protocol text: lines
// end in \r\n; the server starts with INFO {json}; the client sends
// CONNECT {json}; PING is answered with PONG both ways; MSG carries a
// payload of the stated byte count followed by \r\n.
type natsClient struct {
	t    testing.TB
	name string
	c    net.Conn
	r    *bufio.Reader
}

func dialNATS(t testing.TB, addr, name string) *natsClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", name, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &natsClient{t: t, name: name, c: c, r: bufio.NewReader(c)}
}

func (n *natsClient) send(s string) {
	n.t.Helper()
	n.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(n.c, s); err != nil {
		n.t.Fatalf("%s: write %q: %v", n.name, s, err)
	}
}

// line reads one protocol line with its \r\n; err is io.EOF (or a reset)
// when the server closed the connection.
func (n *natsClient) line(timeout time.Duration) (string, error) {
	n.c.SetReadDeadline(time.Now().Add(timeout))
	return n.r.ReadString('\n')
}

func (n *natsClient) mustLine(timeout time.Duration) string {
	n.t.Helper()
	l, err := n.line(timeout)
	if err != nil {
		n.t.Fatalf("%s: read line: %v (got %q)", n.name, err, l)
	}
	return l
}

func (n *natsClient) expect(want string) {
	n.t.Helper()
	if got := n.mustLine(3 * time.Second); got != want {
		n.t.Fatalf("%s: got %q, want %q", n.name, got, want)
	}
}

// login reads INFO, sends CONNECT, and checks the session with PING/PONG
// (with verbose false the server sends no +OK, so the PONG is the only
// acknowledgement that CONNECT was accepted).
func (n *natsClient) login() map[string]any {
	n.t.Helper()
	info := n.mustLine(3 * time.Second)
	if !strings.HasPrefix(info, "INFO {") || !strings.HasSuffix(info, "} \r\n") {
		n.t.Fatalf("%s: first line %q, want INFO {...} \\r\\n", n.name, info)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(info[len("INFO "):])), &fields); err != nil {
		n.t.Fatalf("%s: INFO json: %v", n.name, err)
	}
	n.t.Logf("%s <- %q", n.name, info)
	n.send(`CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":"imtool-` + n.name + `","lang":"go","version":"0.0.0","protocol":1}` + "\r\n")
	n.send("PING\r\n")
	n.expect("PONG\r\n")
	return fields
}

// closed waits (at most timeout) for the server to close the connection
// and returns the lines it sent before.
func (n *natsClient) closed(timeout time.Duration) ([]string, bool) {
	var lines []string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l, err := n.line(time.Until(deadline))
		if l != "" {
			lines = append(lines, l)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return lines, false
			}
			return lines, true
		}
	}
	return lines, false
}

func natsWaitConns(t testing.TB, s *NATS, want int) {
	t.Helper()
	if got, err := s.WaitConnections(want, 3*time.Second); err != nil || got != want {
		t.Fatalf("nats-server counts %d connections (err %v), want %d", got, err, want)
	}
}

// TestNATSPingPong: a client that answers PING with PONG outlives several
// stale-connection periods, and the server counts it all along.
func TestNATSPingPong(t *testing.T) {
	s := StartNATS(t, NATSOptions{PingInterval: time.Second, PingMax: 2})
	a := dialNATS(t, s.Addr, "a")
	info := a.login()
	if info["headers"] != true || info["proto"] != float64(1) {
		t.Errorf("INFO %v: want headers true, proto 1", info)
	}
	natsWaitConns(t, s, 1)

	// ping_max 2 at 1 s: an idle client is cut after 3 s; stay 4.5 s.
	pings := 0
	for deadline := time.Now().Add(4500 * time.Millisecond); time.Now().Before(deadline); {
		l, err := a.line(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			t.Fatalf("connection ended after %d pings: %v (%q)", pings, err, l)
		}
		if l != "PING\r\n" {
			t.Fatalf("got %q, want PING\\r\\n", l)
		}
		pings++
		a.send("PONG\r\n")
	}
	if pings < 3 {
		t.Fatalf("%d server PINGs in 4.5 s at ping_interval 1s", pings)
	}
	natsWaitConns(t, s, 1)
	a.send("PING\r\n")
	a.expect("PONG\r\n")
}

// TestNATSPublish: b publishes to a's subject inbox.<uid> and a gets the
// exact MSG line and payload; the payload is counted in bytes and may hold
// \r\n.
func TestNATSPublish(t *testing.T) {
	s := StartNATS(t, NATSOptions{})
	a := dialNATS(t, s.Addr, "a")
	b := dialNATS(t, s.Addr, "b")
	a.login()
	b.login()
	a.send("SUB inbox.1 1\r\n")
	a.send("PING\r\n") // the SUB is in force once its PONG is back
	a.expect("PONG\r\n")

	b.send("PUB inbox.1 5\r\nhello\r\n")
	a.expect("MSG inbox.1 1 5\r\n")
	a.expect("hello\r\n")

	payload := `{"from":2,"text":"a\r\nb"}`
	b.send(fmt.Sprintf("PUB inbox.1 %d\r\n%s\r\n", len(payload), payload))
	hdr := a.mustLine(3 * time.Second)
	if want := fmt.Sprintf("MSG inbox.1 1 %d\r\n", len(payload)); hdr != want {
		t.Fatalf("got %q, want %q", hdr, want)
	}
	buf := make([]byte, len(payload)+2)
	a.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(a.r, buf); err != nil || string(buf) != payload+"\r\n" {
		t.Fatalf("payload %q (%v), want %q", buf, err, payload+"\r\n")
	}

	// A reply subject sits between subject and sid and byte count.
	b.send("PUB inbox.1 reply.2 2\r\nhi\r\n")
	a.expect("MSG inbox.1 1 reply.2 2\r\n")
	a.expect("hi\r\n")

	// Nobody listens on inbox.9: counted in, not out.
	b.send("PUB inbox.9 1\r\nx\r\n")
	b.send("PING\r\n")
	b.expect("PONG\r\n")
	in, out, err := s.Msgs()
	if err != nil || in != 4 || out != 3 {
		t.Fatalf("varz in_msgs %d out_msgs %d (%v), want 4 and 3", in, out, err)
	}
}

// TestNATSStale: a client that does not answer PING is sent -ERR 'Stale
// Connection' and closed, and the server's count drops.
func TestNATSStale(t *testing.T) {
	s := StartNATS(t, NATSOptions{PingInterval: time.Second, PingMax: 2})
	a := dialNATS(t, s.Addr, "a")
	a.login()
	natsWaitConns(t, s, 1)
	start := time.Now()
	lines, closed := a.closed(6 * time.Second)
	took := time.Since(start)
	want := []string{"PING\r\n", "PING\r\n", "-ERR 'Stale Connection'\r\n"}
	if !closed || strings.Join(lines, "") != strings.Join(want, "") {
		t.Fatalf("got %q (closed %v), want %q then close", lines, closed, want)
	}
	if took < 2500*time.Millisecond || took > 4*time.Second {
		t.Errorf("closed after %v, want about (ping_max+1)*ping_interval = 3s", took)
	}
	t.Logf("stale close after %v: %q", took, lines)
	natsWaitConns(t, s, 0)
}

// TestNATSRefusals: what the server sends for a connection over
// max_connections and for a line it cannot parse.
func TestNATSRefusals(t *testing.T) {
	s := StartNATS(t, NATSOptions{MaxConnections: 1})
	a := dialNATS(t, s.Addr, "a")
	a.login()

	b := dialNATS(t, s.Addr, "b")
	if l := b.mustLine(3 * time.Second); !strings.HasPrefix(l, "INFO {") {
		t.Fatalf("b: got %q, want INFO", l)
	}
	if lines, closed := b.closed(3 * time.Second); !closed || strings.Join(lines, "") != "-ERR 'maximum connections exceeded'\r\n" {
		t.Fatalf("b: got %q (closed %v)", lines, closed)
	}

	a.send("FOO\r\n")
	if lines, closed := a.closed(3 * time.Second); !closed || strings.Join(lines, "") != "-ERR 'Unknown Protocol Operation'\r\n" {
		t.Fatalf("a: got %q (closed %v)", lines, closed)
	}
	natsWaitConns(t, s, 0)
}
