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

// rxStamp receives from non-blocking sockets with the kernel's receive
// timestamp (SO_TIMESTAMPNS): the wall-clock instant the data reached this
// host, whenever the loop gets round to reading it. One per loop; its
// buffers are set up once.
type rxStamp struct {
	msg   unix.Msghdr
	iov   unix.Iovec
	oob   [64]byte
	peek1 [1]byte // peek's buffer: a local one would escape to the heap
}

// enableRxStamp asks the kernel to timestamp what fd receives.
func enableRxStamp(fd int) error {
	one := int32(1)
	return rawSetsockopt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, unsafe.Pointer(&one), 4)
}

// recv is recvmsg(2) into p: n (as rawio.Read: -1 and the errno, 0 and nil
// at end of file) and the wall-clock time in ns at which the last of the
// bytes read arrived, or 0 when the kernel gave none. TCP gives the newest
// segment's time, so frames read together share the latest arrival.
func (r *rxStamp) recv(fd int, p []byte) (int, int64, error) {
	n, e := r.recvmsg(fd, p, 0)
	if e != 0 {
		return -1, 0, e
	}
	return int(n), r.stamp(), nil
}

// peek is the wall-clock time in ns at which the first unread byte on fd
// arrived, leaving it unread; 0 when nothing is waiting or the kernel gave
// no time.
func (r *rxStamp) peek(fd int) int64 {
	if n, e := r.recvmsg(fd, r.peek1[:], unix.MSG_PEEK|unix.MSG_DONTWAIT); e != 0 || n == 0 {
		return 0
	}
	return r.stamp()
}

// recvmsg is recvmsg(2) into p with flags, the control messages into oob.
func (r *rxStamp) recvmsg(fd int, p []byte, flags uintptr) (uintptr, unix.Errno) {
	r.iov.Base = unsafe.SliceData(p)
	r.iov.SetLen(len(p))
	r.msg.Iov = &r.iov
	r.msg.Iovlen = 1
	r.msg.Control = &r.oob[0]
	r.msg.SetControllen(len(r.oob))
	n, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.msg)), flags)
	return n, e
}

// stamp finds SCM_TIMESTAMPNS among the control messages.
func (r *rxStamp) stamp() int64 {
	oob := r.oob[:r.msg.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return ts.Nano()
		}
		oob = oob[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(oob)):]
	}
	return 0
}

// rawTCPInfo is getsockopt(TCP_INFO) into info.
func rawTCPInfo(fd int, info *unix.TCPInfo) error {
	size := uint32(unsafe.Sizeof(*info))
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO, uintptr(unsafe.Pointer(info)), uintptr(unsafe.Pointer(&size)), 0)
	return errnoOf(e)
}
