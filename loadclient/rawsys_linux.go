//go:build linux

package loadclient

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's system calls, made raw: none tells the Go scheduler. Each
// announced syscall lets sysmon take the P from a thread descheduled
// inside it (and hand it back), and wakes a sysmon that was sleeping
// because the loop had parked (metronome); during a ramp the dial path
// alone did that hundreds of times a second in every shard. All of them
// are non-blocking here. Reads and writes are in internal/rawio, shared
// with the gateway.

// rawAddr is a socket address in the kernel's layout, built once.
type rawAddr struct {
	p unsafe.Pointer
	n uintptr
}

func newRawAddr(a netip.Addr, port int) rawAddr {
	var be [2]byte
	binary.BigEndian.PutUint16(be[:], uint16(port))
	portNet := *(*uint16)(unsafe.Pointer(&be[0]))
	if a.Is4() {
		sa := &unix.RawSockaddrInet4{Family: unix.AF_INET, Port: portNet, Addr: a.As4()}
		return rawAddr{unsafe.Pointer(sa), unix.SizeofSockaddrInet4}
	}
	sa := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: portNet, Addr: a.As16()}
	return rawAddr{unsafe.Pointer(sa), unix.SizeofSockaddrInet6}
}

func errnoOf(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func rawSocket(family int) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	return int(r), errnoOf(e)
}

func rawSetsockopt(fd, level, opt int, val unsafe.Pointer, size uintptr) error {
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(val), size, 0)
	return errnoOf(e)
}

func rawBind(fd int, a rawAddr) error {
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(a.p), a.n)
	return errnoOf(e)
}

func rawConnect(fd int, a rawAddr) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(a.p), a.n)
	return errnoOf(e)
}

func rawEpollAdd(epfd, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), unix.EPOLL_CTL_ADD, uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoOf(e)
}

// rawSoError is getsockopt(SO_ERROR): how a non-blocking connect ended.
func rawSoError(fd int) error {
	var v int32
	size := uint32(4)
	if _, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
		return e
	}
	return errnoOf(unix.Errno(v))
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// epollPoll takes the ready events without waiting (epoll_wait with a zero
// timeout).
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
