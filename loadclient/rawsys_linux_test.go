//go:build linux

package loadclient

import (
	"net"
	"testing"
	"time"
)

// TestRxStamp: recv gives the instant the bytes reached the socket, not the
// instant they were read: bytes written, then read 50 ms later, carry a
// timestamp between the write and the read, far from the read.
func TestRxStamp(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	f, err := client.(*net.TCPConn).File() // a blocking duplicate of the client's fd
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := enableRxStamp(fd); err != nil {
		t.Fatal(err)
	}
	var r rxStamp
	buf := make([]byte, 64)
	// The first socket on a host to ask for timestamps turns them on for
	// the whole stack, which the kernel does a moment later (a deferred
	// static key): bytes arriving meanwhile carry none, and the engine
	// then uses its own clock. Wait for that, a bounded number of times.
	for i := 0; ; i++ {
		if _, err := server.Write([]byte("w")); err != nil {
			t.Fatal(err)
		}
		_, at, err := r.recv(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if at > 0 {
			break
		}
		if i == 100 {
			t.Fatal("no receive timestamp after 100 tries over 1 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := time.Now().UnixNano()
	if _, err := server.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	time.Sleep(50 * time.Millisecond)
	read := time.Now().UnixNano()
	n, at, err := r.recv(fd, buf)
	if err != nil || n != 4 {
		t.Fatalf("recv: %d bytes, %v", n, err)
	}
	if at < before || at > after {
		t.Errorf("timestamp %d ns after the write began, %d ns before the read: want within the write (%d ns long)", at-before, read-at, after-before)
	}
}
