// Package rawio is read(2) and write(2) on non-blocking sockets through raw
// syscalls, for the event loops of the swarm and the gateway. They never
// block, so they need not tell the Go scheduler; an announced syscall let
// sysmon take the P from a loop thread descheduled inside it, on a loaded
// machine, and the loop had to win it back: a large part of a
// million-connection run's context switches. (The vendored evio, a module
// of its own, has its own Read.)
package rawio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read is read(2) on a non-blocking fd: n, or -1 and the errno (EAGAIN
// when nothing is there); 0 and nil is end of file.
func Read(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// Write is write(2) on a non-blocking fd: n, or -1 and the errno (EAGAIN
// when the socket buffer is full).
func Write(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
