package loadclient

import (
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/wire"
)

// testServer listens on n loopback ports and accepts anything. raw mode
// drains and counts; gateway mode speaks a small imtool gateway (LOGIN,
// PING, SEND → ACK + DELIVER). It records how each connection ended.
type testServer struct {
	t       testing.TB
	lns     []net.Listener
	ports   []uint16
	gateway bool
	secret  []byte

	open, accepted, fins, resets atomic.Int64
	pushBytes                    int // raw: bytes written to each new connection

	mu       sync.Mutex
	conns    map[net.Conn]bool
	sessions map[uint64]*gwConn
	wg       sync.WaitGroup
	closed   atomic.Bool
}

type gwConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (g *gwConn) write(b []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, _ = g.c.Write(b)
}

func newTestServer(t testing.TB, nports int, gateway bool, setup ...func(*testServer)) *testServer {
	t.Helper()
	s := &testServer{t: t, gateway: gateway, conns: map[net.Conn]bool{}, sessions: map[uint64]*gwConn{}}
	for _, f := range setup {
		f(s)
	}
	for i := 0; i < nports; i++ {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.lns = append(s.lns, ln)
		s.ports = append(s.ports, uint16(ln.Addr().(*net.TCPAddr).Port))
		s.wg.Add(1)
		go s.accept(ln)
	}
	t.Cleanup(s.Close)
	return s
}

// targets is the --target list for the server's ports.
func (s *testServer) targets() []string {
	var out []string
	for _, p := range s.ports {
		out = append(out, "127.0.0.1:"+strconv.Itoa(int(p)))
	}
	return out
}

func (s *testServer) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.open.Add(1)
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *testServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		s.open.Add(-1)
	}()
	var err error
	if s.gateway {
		err = s.serveGateway(c)
	} else {
		if s.pushBytes > 0 {
			go func() { _, _ = c.Write(make([]byte, s.pushBytes)) }()
		}
		_, err = io.Copy(io.Discard, c)
		if err == nil {
			err = io.EOF
		}
	}
	switch {
	case errors.Is(err, io.EOF):
		s.fins.Add(1)
	case errors.Is(err, syscall.ECONNRESET):
		s.resets.Add(1)
	}
}

func (s *testServer) serveGateway(c net.Conn) error {
	gc := &gwConn{c: c}
	dec := wire.NewDecoder(wire.DefaultMaxFrame)
	buf := make([]byte, 4096)
	var uid uint64
	defer func() {
		if uid != 0 {
			s.mu.Lock()
			if s.sessions[uid] == gc {
				delete(s.sessions, uid)
			}
			s.mu.Unlock()
		}
	}()
	for {
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		dec.Feed(buf[:n])
		for {
			f, ok, err := dec.Next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			switch f.Type {
			case wire.TypeLogin:
				if s.secret != nil && !wire.ValidToken(s.secret, f.UID, f.Token) {
					gc.write(wire.AppendError(nil, wire.CodeLoginRejected, "bad token"))
					return nil
				}
				uid = f.UID
				s.mu.Lock()
				s.sessions[uid] = gc
				s.mu.Unlock()
				gc.write(wire.AppendLoginOK(nil, uid, uid, uint64(time.Now().UnixMilli())))
			case wire.TypePing:
				gc.write(wire.AppendPong(nil, f.TS))
			case wire.TypeSend:
				s.mu.Lock()
				to := s.sessions[f.ToUID]
				s.mu.Unlock()
				if to == nil {
					gc.write(wire.AppendAck(nil, f.MsgID, wire.AckOffline))
					continue
				}
				to.write(wire.AppendDeliver(nil, f.MsgID, uid, f.SentTS, f.Payload))
				gc.write(wire.AppendAck(nil, f.MsgID, wire.AckDelivered))
			}
		}
	}
}

// sessionsNow is the number of logged-in connections.
func (s *testServer) sessionsNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// dropAll closes every accepted connection from the server side (FIN).
func (s *testServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *testServer) Close() {
	if s.closed.Swap(true) {
		return
	}
	for _, ln := range s.lns {
		ln.Close()
	}
	s.dropAll()
	s.wg.Wait()
}

// waitFor polls cond every 5ms for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// acceptAll serves every connection ln accepts with serve, each on a
// goroutine of its own that closes it when serve returns. At cleanup it
// closes ln and every connection still open, and waits for the goroutines.
// accepted returns the connections accepted so far, in order.
func acceptAll(t testing.TB, ln net.Listener, serve func(net.Conn)) (accepted func() []net.Conn) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return func() []net.Conn {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(conns)
	}
}
