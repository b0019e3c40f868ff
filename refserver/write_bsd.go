//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package refserver

import "golang.org/x/sys/unix"

// writeFD writes p to a non-blocking socket. It returns again=true when the
// socket buffer is full.
func writeFD(fd int, p []byte) (n int, again bool, err error) {
	n, err = unix.Write(fd, p)
	if n < 0 {
		n = 0
	}
	if err == unix.EAGAIN {
		return n, true, nil
	}
	return n, false, err
}
