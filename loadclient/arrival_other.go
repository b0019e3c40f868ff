//go:build !linux

package loadclient

import (
	"net"
	"syscall"
	"time"
)

// stampConn does nothing here: only Linux timestamps what a socket
// receives.
func stampConn(net.Conn) {}

// firstArrival is unknown here: a late goroutine's timeout stands.
func firstArrival(net.Conn) (time.Time, bool) { return time.Time{}, false }

// connectTook is unknown here: the dial's own timing stands.
func connectTook(net.Conn, time.Time) (time.Duration, bool) { return 0, false }

// rawConnectTook is unknown here: the deadline stands.
func rawConnectTook(syscall.RawConn, time.Time) (time.Duration, bool) { return 0, false }
