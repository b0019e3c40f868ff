//go:build darwin || netbsd || freebsd || openbsd || dragonfly || linux

package evio

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// FD hands out the connection's own socket: the kernel names the client's
// address as that socket's peer. A "-net" (standard library) connection
// has none and gets -1.
func TestFD(t *testing.T) {
	for _, tc := range []struct {
		network string
		loop    bool
	}{{"tcp", true}, {"tcp-net", false}} {
		t.Run(tc.network, func(t *testing.T) {
			type seen struct {
				fd   int
				peer string
			}
			got := make(chan seen, 1)
			var events Events
			var addr net.Addr
			ready := make(chan struct{})
			events.Serving = func(s Server) Action {
				addr = s.Addrs[0]
				close(ready)
				return None
			}
			events.Opened = func(c Conn) ([]byte, Options, Action) {
				fd := FD(c)
				peer := ""
				if fd >= 0 {
					if sa, err := syscall.Getpeername(fd); err == nil {
						if in4, ok := sa.(*syscall.SockaddrInet4); ok {
							peer = (&net.TCPAddr{IP: in4.Addr[:], Port: in4.Port}).String()
						}
					}
				}
				got <- seen{fd, peer}
				return nil, Options{}, Shutdown
			}
			done := make(chan error, 1)
			go func() { done <- Serve(events, tc.network+"://127.0.0.1:0") }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("Serve: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("server not serving after 10 s")
			}
			c, err := net.Dial("tcp4", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var s seen
			select {
			case s = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("no Opened event after 10 s")
			}
			if !tc.loop {
				if s.fd != -1 {
					t.Fatalf("FD of a standard-library connection = %d, want -1", s.fd)
				}
			} else if want := c.LocalAddr().String(); s.peer != want {
				t.Fatalf("FD %d: kernel names peer %q, want the client %q", s.fd, s.peer, want)
			}
			c.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after Shutdown")
			}
		})
	}
}
