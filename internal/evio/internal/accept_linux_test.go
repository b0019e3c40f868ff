package internal

import (
	"net"
	"syscall"
	"testing"
)

// Accept returns a non-blocking fd and the peer's address as
// syscall.Accept did.
func TestAccept(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lfd := int(f.Fd())
	if err := syscall.SetNonblock(lfd, false); err != nil {
		t.Fatal(err)
	}
	fd, sa, err := Accept(lfd)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseFD(fd)
	local := c.LocalAddr().(*net.TCPAddr)
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok || in4.Port != local.Port || net.IP(in4.Addr[:]).String() != local.IP.String() {
		t.Fatalf("peer %#v, want %v", sa, local)
	}
	if _, err := syscall.Read(fd, make([]byte, 1)); err != syscall.EAGAIN {
		t.Fatalf("read on the accepted fd: %v, want EAGAIN (non-blocking)", err)
	}
}
