//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package refserver

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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
