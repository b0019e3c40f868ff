package scenariotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// goimClient is a raw goim TCP client built with encoding/binary.
type goimClient struct {
	t testing.TB
	c net.Conn
}

func dialGoim(t testing.TB, addr string) *goimClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &goimClient{t: t, c: c}
}

// goimBytes is one packet, built field by field.
func goimBytes(ver uint16, op, seq uint32, body []byte) []byte {
	b := make([]byte, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], uint32(16+len(body)))
	binary.BigEndian.PutUint16(b[4:], 16)
	binary.BigEndian.PutUint16(b[6:], ver)
	binary.BigEndian.PutUint32(b[8:], op)
	binary.BigEndian.PutUint32(b[12:], seq)
	copy(b[16:], body)
	return b
}

func (g *goimClient) write(b []byte) {
	g.t.Helper()
	if _, err := g.c.Write(b); err != nil {
		g.t.Fatalf("write %x: %v", b, err)
	}
}

// read reads one whole packet, raw.
func (g *goimClient) read(timeout time.Duration) []byte {
	g.t.Helper()
	g.c.SetReadDeadline(time.Now().Add(timeout))
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(g.c, hdr); err != nil {
		g.t.Fatalf("read header: %v", err)
	}
	n := binary.BigEndian.Uint32(hdr)
	if n < 16 || n > 1<<16 {
		g.t.Fatalf("packLen %d in %x", n, hdr)
	}
	b := make([]byte, n)
	copy(b, hdr)
	if _, err := io.ReadFull(g.c, b[16:]); err != nil {
		g.t.Fatalf("read body: %v", err)
	}
	return b
}

// expect reads one packet and checks its bytes are want.
func (g *goimClient) expect(what string, want []byte) {
	g.t.Helper()
	got := g.read(5 * time.Second)
	if string(got) != string(want) {
		g.t.Fatalf("%s: got %x, want %x", what, got, want)
	}
	g.t.Logf("%-16s %x", what, got)
}

func (g *goimClient) auth(mid int64, room string, seq uint32) {
	g.t.Helper()
	body := fmt.Sprintf(`{"mid":%d,"key":"k-%d","room_id":%q,"platform":"web","accepts":[1000,1001]}`, mid, mid, room)
	g.write(goimBytes(1, 7, seq, []byte(body)))
	g.expect("auth reply", goimBytes(1, 8, seq, nil))
}

// closedWithin tells whether the server closes the connection within d
// (reading and dropping anything it sends first), and how long it took.
func (g *goimClient) closedWithin(d time.Duration) (bool, time.Duration) {
	start := time.Now()
	g.c.SetReadDeadline(start.Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := g.c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return true, time.Since(start)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false, time.Since(start)
		}
		g.t.Fatalf("read: %v", err)
	}
}

func goimWait(t testing.TB, g *Goim, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s; Conns %d, Authed %d, Heartbeats %d, Messages %d, Delivered %d, Undelivered %d",
		what, g.Conns(), g.Authed(), g.Heartbeats(), g.Messages(), g.Delivered(), g.Undelivered())
}

func goimMid8(mid int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(mid)) }

// TestGoimSession: auth, heartbeat with the room's online count, a send
// acknowledged and delivered, the counts.
func TestGoimSession(t *testing.T) {
	g := StartGoim(t, GoimOptions{HeartbeatTimeout: 5 * time.Second, AuthTimeout: 5 * time.Second})

	a := dialGoim(t, g.Addr)
	authBody := `{"mid":1,"key":"k-1","room_id":"live://1000","platform":"web","accepts":[1000,1001]}`
	authPkt := goimBytes(1, 7, 1, []byte(authBody))
	t.Logf("%-16s %x", "auth", authPkt)
	a.write(authPkt)
	a.expect("auth reply", []byte{0, 0, 0, 16, 0, 16, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1})
	goimWait(t, g, "Authed() == 1", func() bool { return g.Authed() == 1 })

	hb := goimBytes(1, 2, 2, nil)
	t.Logf("%-16s %x", "heartbeat", hb)
	a.write(hb)
	a.expect("heartbeat reply", []byte{0, 0, 0, 20, 0, 16, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1})
	if n := g.Heartbeats(); n != 1 {
		t.Fatalf("Heartbeats() = %d, want 1", n)
	}

	b := dialGoim(t, g.Addr)
	b.auth(2, "live://1000", 0x01020304)
	// The reply's body is the room's online count, now 2; seq is echoed.
	b.write(goimBytes(1, 2, 0xfffffffe, nil))
	b.expect("heartbeat reply", goimBytes(1, 3, 0xfffffffe, []byte{0, 0, 0, 2}))
	// No room: 0, as goim.
	c := dialGoim(t, g.Addr)
	c.auth(3, "", 1)
	c.write(goimBytes(1, 2, 5, nil))
	c.expect("heartbeat reply", goimBytes(1, 3, 5, []byte{0, 0, 0, 0}))

	// b sends to mid 1: ack to b, delivery to a.
	payload := []byte(`{"seq":1,"ts":123}`)
	send := goimBytes(1, 4, 3, append(goimMid8(1), payload...))
	t.Logf("%-16s %x", "send", send)
	b.write(send)
	b.expect("send ack", []byte{0, 0, 0, 16, 0, 16, 0, 1, 0, 0, 0, 5, 0, 0, 0, 3})
	a.expect("delivery", goimBytes(1, 9, 0, payload))
	goimWait(t, g, "Delivered() == 1", func() bool { return g.Delivered() == 1 })

	// A second connection of mid 1 gets it too.
	a2 := dialGoim(t, g.Addr)
	a2.auth(1, "live://1000", 1)
	b.write(goimBytes(1, 4, 4, append(goimMid8(1), "two"...)))
	b.expect("send ack", goimBytes(1, 5, 4, nil))
	a.expect("delivery", goimBytes(1, 9, 0, []byte("two")))
	a2.expect("delivery", goimBytes(1, 9, 0, []byte("two")))

	// To nobody: still acknowledged, counted undelivered. An empty payload
	// is allowed.
	b.write(goimBytes(1, 4, 5, goimMid8(99)))
	b.expect("send ack", goimBytes(1, 5, 5, nil))
	// Replies echo the request's ver.
	b.write(goimBytes(7, 2, 6, nil))
	b.expect("heartbeat reply", goimBytes(7, 3, 6, []byte{0, 0, 0, 3}))

	goimWait(t, g, "Authed 4, Conns 4, Heartbeats 4, Messages 3, Delivered 3, Undelivered 1", func() bool {
		return g.Authed() == 4 && g.Conns() == 4 && g.Heartbeats() == 4 && g.Messages() == 3 && g.Delivered() == 3 && g.Undelivered() == 1
	})
	a.c.Close()
	goimWait(t, g, "Authed() == 3", func() bool { return g.Authed() == 3 })
	// mid 1 still has a2.
	b.write(goimBytes(1, 4, 7, append(goimMid8(1), "three"...)))
	b.expect("send ack", goimBytes(1, 5, 7, nil))
	a2.expect("delivery", goimBytes(1, 9, 0, []byte("three")))
}

// TestGoimBadFirstPacket: anything but a valid auth first, or no auth in
// time, closes the connection.
func TestGoimBadFirstPacket(t *testing.T) {
	const authTimeout = 300 * time.Millisecond
	g := StartGoim(t, GoimOptions{AuthTimeout: authTimeout})
	for _, tc := range []struct {
		name string
		pkt  []byte
	}{
		{"heartbeat first", goimBytes(1, 2, 1, nil)},
		{"send first", goimBytes(1, 4, 1, append(goimMid8(1), 'x'))},
		{"auth not JSON", goimBytes(1, 7, 1, []byte("mid=1"))},
		{"auth without mid", goimBytes(1, 7, 1, []byte(`{"key":"k"}`))},
		{"auth mid a string", goimBytes(1, 7, 1, []byte(`{"mid":"1"}`))},
		{"headerLen 12", func() []byte { b := goimBytes(1, 7, 1, []byte(`{"mid":1}`)); b[5] = 12; return b }()},
	} {
		c := dialGoim(t, g.Addr)
		c.write(tc.pkt)
		if closed, after := c.closedWithin(2 * time.Second); !closed {
			t.Errorf("%s: not closed after %v", tc.name, after)
		}
	}
	// No auth at all: closed after AuthTimeout.
	c := dialGoim(t, g.Addr)
	closed, after := c.closedWithin(3 * time.Second)
	if !closed || after < authTimeout-50*time.Millisecond {
		t.Fatalf("silent connection: closed %v after %v, want closed after about %v", closed, after, authTimeout)
	}
	t.Logf("silent connection closed after %v (AuthTimeout %v)", after.Round(time.Millisecond), authTimeout)
	if n := g.Authed(); n != 0 {
		t.Fatalf("Authed() = %d", n)
	}
	goimWait(t, g, "Conns() == 0", func() bool { return g.Conns() == 0 })
}

// TestGoimHeartbeatTimeout: heartbeats keep a connection; without them it
// is closed after HeartbeatTimeout, even while it sends other packets.
func TestGoimHeartbeatTimeout(t *testing.T) {
	const hbTimeout = 500 * time.Millisecond
	g := StartGoim(t, GoimOptions{HeartbeatTimeout: hbTimeout})
	c := dialGoim(t, g.Addr)
	c.auth(1, "r", 1)
	for i := uint32(0); i < 6; i++ { // 1.2 s, past twice the timeout
		time.Sleep(200 * time.Millisecond)
		c.write(goimBytes(1, 2, 10+i, nil))
		c.expect("heartbeat reply", goimBytes(1, 3, 10+i, []byte{0, 0, 0, 1}))
	}
	last := time.Now()
	// Sends do not count as heartbeats.
	for i := uint32(0); i < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		c.write(goimBytes(1, 4, 20+i, append(goimMid8(2), 'x')))
		c.expect("send ack", goimBytes(1, 5, 20+i, nil))
	}
	closed, _ := c.closedWithin(2 * time.Second)
	after := time.Since(last)
	if !closed || after < hbTimeout-50*time.Millisecond || after > hbTimeout+500*time.Millisecond {
		t.Fatalf("closed %v %v after the last heartbeat, want about %v", closed, after, hbTimeout)
	}
	t.Logf("closed %v after the last heartbeat (HeartbeatTimeout %v)", after.Round(time.Millisecond), hbTimeout)
	goimWait(t, g, "Authed() == 0", func() bool { return g.Authed() == 0 })

	// Authed but no heartbeat at all: closed HeartbeatTimeout after the auth.
	c = dialGoim(t, g.Addr)
	c.auth(1, "r", 1)
	start := time.Now()
	closed, _ = c.closedWithin(2 * time.Second)
	if after := time.Since(start); !closed || after < hbTimeout-50*time.Millisecond {
		t.Fatalf("closed %v %v after the auth, want about %v", closed, after, hbTimeout)
	}
}

// TestGoimBadFrame: a bad frame from an authed connection closes that
// connection only.
func TestGoimBadFrame(t *testing.T) {
	g := StartGoim(t, GoimOptions{})
	witness := dialGoim(t, g.Addr)
	witness.auth(100, "r", 1)
	bad := []struct {
		name string
		pkt  []byte
	}{
		{"headerLen 12", func() []byte { b := goimBytes(1, 2, 1, nil); b[5] = 12; return b }()},
		{"packLen 15", func() []byte { b := goimBytes(1, 2, 1, nil); b[3] = 15; return b }()},
		{"packLen 64 KiB + 1", func() []byte {
			b := goimBytes(1, 4, 1, nil)
			binary.BigEndian.PutUint32(b, 64<<10+1)
			return b
		}()},
		{"unknown op 99", goimBytes(1, 99, 1, nil)},
		{"second auth", goimBytes(1, 7, 1, []byte(`{"mid":1}`))},
		{"send body of 4 bytes", goimBytes(1, 4, 1, []byte{0, 0, 0, 1})},
	}
	for i, tc := range bad {
		c := dialGoim(t, g.Addr)
		c.auth(int64(i+1), "r", 1)
		c.write(tc.pkt)
		if closed, after := c.closedWithin(2 * time.Second); !closed {
			t.Fatalf("%s: not closed after %v", tc.name, after)
		}
		witness.write(goimBytes(1, 2, uint32(i), nil))
		witness.read(2 * time.Second)
	}
	// The largest packet allowed is 64 KiB, header included.
	c := dialGoim(t, g.Addr)
	c.auth(50, "r", 1)
	big := make([]byte, 64<<10-16-8)
	witness.write(goimBytes(1, 4, 9, append(goimMid8(50), big...)))
	witness.expect("send ack", goimBytes(1, 5, 9, nil))
	if got := c.read(5 * time.Second); len(got) != 16+len(big) {
		t.Fatalf("delivery of %d bytes, want %d", len(got), 16+len(big))
	}
	goimWait(t, g, "Authed() == 2", func() bool { return g.Authed() == 2 })
}

// TestGoimThousand: 1,000 concurrent authed connections are counted.
func TestGoimThousand(t *testing.T) {
	const n = 1000
	// Both ends take 2,000 descriptors: within the 20,000 the test process
	// has (Go raises the soft RLIMIT_NOFILE to the hard one at start).
	g := StartGoim(t, GoimOptions{})
	conns := make([]net.Conn, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", g.Addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(goimBytes(1, 7, 1, fmt.Appendf(nil, `{"mid":%d}`, i+1))); err != nil {
				errs <- err
				return
			}
			reply := make([]byte, 16)
			if _, err := io.ReadFull(c, reply); err != nil {
				errs <- err
				return
			}
			if string(reply) != string(goimBytes(1, 8, 1, nil)) {
				errs <- fmt.Errorf("auth reply %x", reply)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	goimWait(t, g, "Authed() == 1000", func() bool { return g.Authed() == n })
	for _, c := range conns {
		c.Close()
	}
	goimWait(t, g, "Authed() == 0", func() bool { return g.Authed() == 0 && g.Conns() == 0 })
}
