package refserver

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeFD writes p to a non-blocking socket. It returns again=true when the
// socket buffer is full. The write never blocks, so it goes through a raw
// syscall: on a loaded machine a gateway thread descheduled inside an
// announced syscall lost its P to sysmon and had to win it back, a large
// part of a million-connection run's context switches.
func writeFD(fd int, p []byte) (n int, again bool, err error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	switch {
	case e == unix.EAGAIN:
		return 0, true, nil
	case e != 0:
		return 0, false, e
	}
	return int(r), false, nil
}
