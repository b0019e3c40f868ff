package refserver

import (
	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/rawio"
)

// writeFD writes p to a non-blocking socket. It returns again=true when the
// socket buffer is full. It goes through a raw syscall (see internal/rawio).
func writeFD(fd int, p []byte) (n int, again bool, err error) {
	n, err = rawio.Write(fd, p)
	switch {
	case err == unix.EAGAIN:
		return 0, true, nil
	case err != nil:
		return 0, false, err
	}
	return n, false, nil
}
