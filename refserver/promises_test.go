package refserver_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/wire"
	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// The promises of docs/PROTOCOL.md under a hostile client, on one gateway.

// A frame must complete to count: a client that trickles the body of one
// big SEND, a byte at a time, is still idle and is closed with ERROR 7.
func TestIdleTimerNeedsWholeFrames(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{IdleTimeout: 400 * time.Millisecond}, 1)
	c := rt.Dial(t, g.Addrs[0])
	c.Login(1, "x")
	hdr := binary.BigEndian.AppendUint32(nil, 1+24+60000-24) // a SEND of 60,000 bytes
	c.Write(append(hdr, rt.Send))
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ { // one byte every 50 ms, for at most 5 s
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Conn.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	c.ExpectError(wire.CodeIdleTimeout)
}

// A duplicate-login storm on one gateway: every connection gets LOGIN_OK
// first, and nothing after a KICK or an ERROR.
func TestKickIsLastFrame(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 2)
	const rounds, conns = 40, 16
	for r := 0; r < rounds; r++ {
		uid := uint64(100 + r)
		var wg sync.WaitGroup
		logs := make([][]rt.Frame, conns)
		errs := make([]error, conns)
		start := make(chan struct{})
		for i := 0; i < conns; i++ {
			c, err := net.DialTimeout("tcp", g.Addrs[i%2], 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			wg.Add(1)
			go func(i int, c net.Conn) {
				defer wg.Done()
				cl := rt.NewClient(t, c)
				<-start
				c.Write(append(rt.LoginFrame(uid, "x"), rt.PingFrame(uint64(i))...))
				logs[i], errs[i] = cl.ReadAll(300 * time.Millisecond)
			}(i, c)
		}
		close(start)
		wg.Wait()
		survivors := 0
		for i, log := range logs {
			if len(log) == 0 || log[0].Type != rt.LoginOK {
				t.Fatalf("round %d conn %d: first frames %v (err %v), want LOGIN_OK first", r, i, log, errs[i])
			}
			for j, f := range log {
				if (f.Type == rt.Kick || f.Type == rt.Error) && j != len(log)-1 {
					t.Fatalf("round %d conn %d: frames %v: %v is not the last", r, i, log, f)
				}
			}
			if last := log[len(log)-1]; last.Type != rt.Kick {
				survivors++
				if !errors.Is(errs[i], rt.ErrStillOpen) {
					t.Fatalf("round %d conn %d: not kicked, yet closed: %v", r, i, errs[i])
				}
			}
		}
		if survivors != 1 {
			t.Fatalf("round %d: %d sessions survived, want 1", r, survivors)
		}
	}
}

// A client that never reads, sent 1,000 × 8 KB: it is cut off within a
// bounded time and memory and counted slow; each message ACKed 0 reaches
// it (it reads once cut off), and every SEND gets its ACK.
func TestSlowReaderCutOff(t *testing.T) {
	g := rt.NewGateway(t, refserver.Options{}, 1)
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", g.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	slow := rt.NewClient(t, conn)
	conn.Write(rt.LoginFrame(2, "x"))
	if f, err := slow.Read(5 * time.Second); err != nil || f.Type != rt.LoginOK {
		t.Fatalf("login: %v %v", f, err)
	}
	sender := rt.Dial(t, g.Addrs[0])
	sender.Login(1, "x")
	const n = 1000
	payload := strings.Repeat("m", 8000)
	go func() {
		for i := uint64(1); i <= n; i++ {
			if _, err := sender.Conn.Write(rt.SendFrame(i, 2, i, payload)); err != nil {
				return
			}
		}
	}()
	status := map[uint64]uint8{}
	for len(status) < n {
		f, err := sender.Read(20 * time.Second)
		if err != nil {
			t.Fatalf("after %d ACKs: %v", len(status), err)
		}
		if f.Type != rt.Ack {
			t.Fatalf("sender got %v", f)
		}
		if _, dup := status[f.MsgID]; dup {
			t.Fatalf("two ACKs for msg %d", f.MsgID)
		}
		status[f.MsgID] = f.Status
	}
	rt.Eventually(t, 10*time.Second, "the slow reader cut off", func() bool {
		s := g.Snapshot()
		return s.SlowClients == 1 && s.Connections == 1 && s.Sessions == 1
	})
	frames, rerr := slow.ReadAll(5 * time.Second)
	got := map[uint64]bool{}
	for _, f := range frames {
		if f.Type == rt.Deliver {
			got[f.MsgID] = true
		}
	}
	acked := 0
	for id, st := range status {
		if st == wire.AckDelivered {
			acked++
			if !got[id] {
				t.Errorf("msg %d was ACKed 0 and never delivered", id)
			}
		} else if got[id] {
			t.Errorf("msg %d was ACKed %d and delivered", id, st)
		}
	}
	t.Logf("%d ACKed 0 and delivered, %d answered offline; the slow reader read %d frames, then %v", acked, n-acked, len(frames), rerr)
	if acked == 0 || acked == n {
		t.Fatalf("%d of %d ACKed 0, want some (the socket takes a few) and not all (the reader never reads)", acked, n)
	}
	// The cut-off may end the stream inside the frame that was being written.
	if !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
		t.Fatalf("the slow reader's connection: %v, want closed", rerr)
	}
}
