//go:build linux

package loadclient

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stampConn asks the kernel to timestamp what the TCP connection c
// receives, so that a late goroutine can tell when an answer arrived
// (firstArrival).
func stampConn(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) { _ = enableRxStamp(int(fd)) })
		}
	}
}

// firstArrival is when the first unread byte of the TCP connection c
// arrived at this host, by the kernel's clock; false when nothing is
// waiting or the kernel gave no time.
func firstArrival(c net.Conn) (time.Time, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return time.Time{}, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return time.Time{}, false
	}
	var at int64
	_ = raw.Control(func(fd uintptr) {
		var s rxStamp
		at = s.peek(int(fd))
	})
	return time.Unix(0, at), at > 0
}

// connectTook is how long the TCP handshake of c, begun at start, took by
// the kernel's clocks (TCP_INFO, as handshakeTook); false when unknown.
func connectTook(c net.Conn, start time.Time) (time.Duration, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	return rawConnectTook(raw, start)
}

// rawConnectTook is connectTook of a socket still connecting, or done;
// false while its handshake is not over.
func rawConnectTook(raw syscall.RawConn, start time.Time) (time.Duration, bool) {
	var took time.Duration
	known := false
	_ = raw.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return
		}
		var ns int64
		ns, known = tcpHandshakeTook(info, int64(time.Since(start)))
		took = time.Duration(ns)
	})
	return took, known
}
