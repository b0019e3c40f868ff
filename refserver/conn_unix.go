//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package refserver

import "golang.org/x/sys/unix"

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
