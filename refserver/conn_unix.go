//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package refserver

import (
	"fmt"
	"reflect"

	"github.com/tidwall/evio"
	"golang.org/x/sys/unix"
)

// fdOf returns the socket of an evio connection. evio does not export it,
// but the gateway must write to the socket itself: evio's Wake replaces the
// connection's pending output, so writing through evio from other
// goroutines could lose bytes. TestFDOf guards the field's presence.
func fdOf(c evio.Conn) int {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer {
		return -1
	}
	f := v.Elem().FieldByName("fd")
	if !f.IsValid() {
		return -1
	}
	return int(f.Int())
}

// loopOf returns the index of the evio loop that owns c (evio does not
// export it): the gateway writes a connection's socket from its loop only,
// and knows from this when it is already there. TestFDOf guards the fields.
func loopOf(c evio.Conn) int {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer {
		return 0
	}
	l := v.Elem().FieldByName("loop")
	if !l.IsValid() || l.IsNil() {
		return 0
	}
	i := l.Elem().FieldByName("idx")
	if !i.IsValid() {
		return 0
	}
	return int(i.Int())
}

// lingerClose ends our side of fd so the peer reads what was sent before the
// close: it shuts down writing and drains unread input, which would
// otherwise turn the close into a reset that discards our last frame.
func lingerClose(fd int) {
	_ = unix.Shutdown(fd, unix.SHUT_WR)
	var buf [4096]byte
	for i := 0; i < 64; i++ {
		if n, err := unix.Read(fd, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

// fdLimit is this process's RLIMIT_NOFILE (soft; Go raised it to the hard one at start).
func fdLimit() (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("cannot read RLIMIT_NOFILE: %w", err)
	}
	return int(min(rl.Cur, 1<<30)), nil
}
