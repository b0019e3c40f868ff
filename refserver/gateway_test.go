package refserver_test

import (
	"bytes"
	"math/rand"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/wire"
	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

func TestLoginPingOnEveryPort(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 5)
	for i, addr := range g.Addrs {
		c := rt.Dial(t, addr)
		ok := c.Login(uint64(100+i), "any")
		if ok.ServerMs == 0 || ok.SessionID == 0 {
			t.Fatalf("LOGIN_OK %+v", ok)
		}
		c.Write(rt.PingFrame(0xDEADBEEF00 + uint64(i)))
		if f := c.Expect(rt.Pong); f.TS != 0xDEADBEEF00+uint64(i) {
			t.Fatalf("PONG ts %x", f.TS)
		}
	}
	s := g.Snapshot()
	if s.Sessions != 5 || s.Connections != 5 || len(s.Ports) != 5 {
		t.Fatalf("stats %+v", s)
	}
	for p, n := range s.Ports {
		if n != 1 {
			t.Fatalf("port %s has %d connections, want 1", p, n)
		}
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{MaxFrame: 1024}, 1)
	bystander := rt.Dial(t, g.Addrs[0])
	bystander.Login(1, "x")
	for _, tc := range []struct {
		name  string
		login bool
		data  []byte
		code  uint16
	}{
		{"frame before login", false, rt.PingFrame(1), wire.CodeNotLoggedIn},
		{"zero length", true, []byte{0, 0, 0, 0}, wire.CodeBadFrame},
		{"oversize", true, []byte{0, 0, 0x10, 0, rt.Send}, wire.CodeTooLarge},
		{"unknown type", true, rt.FrameBytes(0x7f, nil), wire.CodeUnknownType},
		{"server frame from client", true, rt.FrameBytes(rt.Pong, make([]byte, 8)), wire.CodeUnknownType},
		{"truncated body", true, rt.FrameBytes(rt.Ping, []byte{1, 2, 3, 4}), wire.CodeBadFrame},
		{"login token length lies", false, rt.FrameBytes(rt.Login, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 'a'}), wire.CodeBadFrame},
		{"second login", true, rt.LoginFrame(3, "x"), wire.CodeBadFrame},
		{"plain HTTP", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rt.Dial(t, g.Addrs[0])
			if tc.login {
				c.Login(2, "x")
			}
			c.Write(tc.data)
			c.ExpectError(tc.code)
		})
	}
	bystander.Write(rt.PingFrame(7))
	bystander.Expect(rt.Pong)
	rt.Eventually(t, 5*time.Second, "closed connections to be counted", func() bool { return g.Snapshot().Connections == 1 })
}

func TestSplitAndCoalescedFrames(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 1)
	c := rt.Dial(t, g.Addrs[0])
	stream := append(rt.LoginFrame(9, "tok"), rt.PingFrame(1)...)
	stream = append(stream, rt.PingFrame(2)...)
	for _, b := range stream[:len(stream)-3] { // one byte per write
		c.Write([]byte{b})
		time.Sleep(time.Millisecond)
	}
	c.Write(append(stream[len(stream)-3:], append(rt.PingFrame(3), rt.PingFrame(4)...)...)) // the rest, coalesced
	c.Expect(rt.LoginOK)
	for ts := uint64(1); ts <= 4; ts++ {
		if f := c.Expect(rt.Pong); f.TS != ts {
			t.Fatalf("PONG %d, want %d", f.TS, ts)
		}
	}
}

func TestTimeouts(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{LoginTimeout: 200 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}, 1)
	silent := rt.Dial(t, g.Addrs[0])
	idle := rt.Dial(t, g.Addrs[0])
	idle.Login(1, "x")
	silent.ExpectError(wire.CodeLoginTimeout)
	idle.ExpectError(wire.CodeIdleTimeout)
	// A client that pings stays.
	alive := rt.Dial(t, g.Addrs[0])
	alive.Login(2, "x")
	for i := 0; i < 6; i++ {
		time.Sleep(100 * time.Millisecond)
		alive.Write(rt.PingFrame(uint64(i)))
		alive.Expect(rt.Pong)
	}
}

func TestAuthSecret(t *testing.T) {
	secret := []byte("s3cret")
	g := rt.NewGateway(t, refserver.Options{AuthSecret: secret}, 1)
	bad := rt.Dial(t, g.Addrs[0])
	bad.Write(rt.LoginFrame(42, "00"))
	bad.ExpectError(wire.CodeLoginRejected)
	wrongUID := rt.Dial(t, g.Addrs[0])
	wrongUID.Write(rt.LoginFrame(43, string(wire.Token(secret, 42))))
	wrongUID.ExpectError(wire.CodeLoginRejected)
	good := rt.Dial(t, g.Addrs[0])
	good.Login(42, "982005f6c4662ae06eaa3ba4eac3c6459bc772386f3c8ac329b503a2ee32276e") // openssl dgst -sha256 -hmac s3cret <<< 42
}

func TestNewestLoginWins(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 2)
	first := rt.Dial(t, g.Addrs[0])
	first.Login(5, "x")
	second := rt.Dial(t, g.Addrs[1])
	second.Login(5, "x")
	if f := first.Expect(rt.Kick); f.Code != wire.CodeDuplicateLogin {
		t.Fatalf("got %v", f)
	}
	first.ExpectClosed()
	second.Write(rt.PingFrame(1))
	second.Expect(rt.Pong)
	rt.Eventually(t, 2*time.Second, "one session", func() bool { s := g.Snapshot(); return s.Sessions == 1 && s.Kicks == 1 })
}

func TestSendAckDeliver(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 2)
	a := rt.Dial(t, g.Addrs[0])
	a.Login(1, "x")
	b := rt.Dial(t, g.Addrs[1])
	b.Login(2, "x")
	a.Write(rt.SendFrame(77, 2, 123456789, "hello"))
	if f := a.Expect(rt.Ack); f.MsgID != 77 || f.Status != wire.AckDelivered {
		t.Fatalf("got %v", f)
	}
	if f := b.Expect(rt.Deliver); f.MsgID != 77 || f.FromUID != 1 || f.SentTS != 123456789 || f.Payload != "hello" {
		t.Fatalf("DELIVER %+v", f)
	}
	a.Write(rt.SendFrame(78, 999, 1, "nobody"))
	if f := a.Expect(rt.Ack); f.MsgID != 78 || f.Status != wire.AckOffline {
		t.Fatalf("got %v", f)
	}
	a.Write(rt.SendFrame(79, 1, 5, "me")) // to oneself
	got := map[byte]rt.Frame{}
	for i := 0; i < 2; i++ {
		f, err := a.Read(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got[f.Type] = f
	}
	if got[rt.Ack].MsgID != 79 || got[rt.Deliver].FromUID != 1 || got[rt.Deliver].Payload != "me" {
		t.Fatalf("send to self: %+v", got)
	}
}

func TestBroadcast(t *testing.T) {
	off := rt.NewGateway(t, refserver.Options{}, 1)
	c := rt.Dial(t, off.Addrs[0])
	c.Login(1, "x")
	c.Write(rt.BroadcastFrame(5, 1, "all"))
	if f := c.Expect(rt.Ack); f.Status != wire.AckNotAllowed {
		t.Fatalf("broadcast disabled: %v", f)
	}

	on := rt.NewGateway(t, refserver.Options{Broadcast: true}, 1)
	var clients []*rt.Client
	for uid := uint64(1); uid <= 3; uid++ {
		c := rt.Dial(t, on.Addrs[0])
		c.Login(uid, "x")
		clients = append(clients, c)
	}
	clients[0].Write(rt.BroadcastFrame(6, 99, "all"))
	for i, c := range clients {
		types := map[byte]int{}
		n := 1
		if i == 0 {
			n = 2 // the sender gets its own DELIVER and the ACK
		}
		for j := 0; j < n; j++ {
			f, err := c.Read(5 * time.Second)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if f.Type == rt.Deliver && (f.MsgID != 6 || f.FromUID != 1 || f.Payload != "all") {
				t.Fatalf("DELIVER %+v", f)
			}
			types[f.Type]++
		}
		if types[rt.Deliver] != 1 || (i == 0 && types[rt.Ack] != 1) {
			t.Fatalf("client %d got %v", i, types)
		}
	}
}

func TestLogoutFlushesAndCloses(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 1)
	c := rt.Dial(t, g.Addrs[0])
	c.Login(1, "x")
	c.Write(append(rt.PingFrame(11), rt.LogoutFrame()...))
	if f := c.Expect(rt.Pong); f.TS != 11 {
		t.Fatalf("PONG %d", f.TS)
	}
	c.ExpectClosed()
	rt.Eventually(t, 2*time.Second, "no sessions", func() bool { return g.Snapshot().Sessions == 0 })
}

func TestShutdownTellsEveryone(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 2)
	var cs []*rt.Client
	for i, addr := range g.Addrs {
		c := rt.Dial(t, addr)
		c.Login(uint64(i+1), "x")
		cs = append(cs, c)
	}
	pending := rt.Dial(t, g.Addrs[0]) // not logged in: told too
	rt.Eventually(t, 2*time.Second, "3 connections", func() bool { return g.Snapshot().Connections == 3 })
	go g.Shutdown(2 * time.Second)
	for _, c := range append(cs, pending) {
		c.ExpectError(wire.CodeShuttingDown)
	}
	select {
	case <-g.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("gateway did not stop")
	}
}

func TestServerFull(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{MaxConns: 3}, 1)
	for i := 0; i < 3; i++ {
		rt.Dial(t, g.Addrs[0]).Login(uint64(i+1), "x")
	}
	over := rt.Dial(t, g.Addrs[0])
	over.ExpectError(wire.CodeServerFull)
	if s := g.Snapshot(); s.Rejected != 1 || s.Errors["server_full"] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A client that sends but never reads is disconnected once its queue passes
// the limit; the gateway's memory does not grow with it.
func TestSlowClientIsDropped(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{MaxQueue: 64 << 10}, 1)
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", g.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(rt.LoginFrame(1, "x"))
	// 6.5 MiB of PINGs, never reading a PONG: more than the kernel's
	// largest send buffer (tcp_wmem, 4 MiB) and the queue can take.
	pings := bytes.Repeat(rt.PingFrame(1), 512<<10)
	go conn.Write(pings)
	rt.Eventually(t, 10*time.Second, "the slow client to be dropped", func() bool {
		s := g.Snapshot()
		return s.SlowClients == 1 && s.Connections == 0
	})
	ok := rt.Dial(t, g.Addrs[0])
	ok.Login(2, "x")
}

// Thousands of connections of random bytes: each is closed, none takes the
// gateway down.
func TestGarbageFlood(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{LoginTimeout: time.Second}, 4)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	for i := 0; i < 3000; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", g.Addrs[i%len(g.Addrs)])
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			defer c.Close()
			junk := make([]byte, 1+rand.Intn(300))
			rand.Read(junk)
			c.Write(junk)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var buf [512]byte
			for {
				if _, err := c.Read(buf[:]); err != nil {
					return // closed by the gateway (or its login timeout)
				}
			}
		}(i)
	}
	wg.Wait()
	rt.Eventually(t, 5*time.Second, "all junk connections closed", func() bool { return g.Snapshot().Connections == 0 })
	c := rt.Dial(t, g.Addrs[0])
	c.Login(1, "x")
	c.Write(rt.PingFrame(3))
	c.Expect(rt.Pong)
}
