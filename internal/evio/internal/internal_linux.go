// Copyright 2017 Joshua J Baker. All rights reserved.
// Use of this source code is governed by an MIT-style
// license that can be found in the LICENSE file.

package internal

import (
	"runtime"
	"syscall"
	"unsafe"
)

// Poll ...
type Poll struct {
	fd       int // epoll fd
	wfd      int // wake fd
	notes    noteQueue
	idleWait int // epoll_wait timeout, ms (-1: none); only tests change it
}

// OpenPoll ...
func OpenPoll() *Poll {
	l := &Poll{idleWait: 100}
	p, err := syscall.EpollCreate1(0)
	if err != nil {
		panic(err)
	}
	l.fd = p
	r0, _, e0 := syscall.Syscall(syscall.SYS_EVENTFD2, 0, 0, 0)
	if e0 != 0 {
		syscall.Close(p)
		panic(err)
	}
	l.wfd = int(r0)
	l.AddRead(l.wfd)
	return l
}

// Close closes the poll's descriptors; Trigger does nothing after it.
func (p *Poll) Close() error {
	return p.notes.Close(func() error {
		if err := syscall.Close(p.wfd); err != nil {
			return err
		}
		return syscall.Close(p.fd)
	})
}

// Trigger queues note for Wait and wakes it. Once the poll is closed it
// returns ErrClosed and writes nothing: it may be called from any goroutine
// at any time (a conn's Wake after its server stopped).
func (p *Poll) Trigger(note interface{}) error {
	return p.notes.Add(note, func() error {
		var x uint64 = 1
		_, err := syscall.Write(p.wfd, (*(*[8]byte)(unsafe.Pointer(&x)))[:])
		return err
	})
}

// Wait runs the loop: iter for each ready fd, and with fd 0 for each note.
// The waits keep the P (epollWaitRaw). With yield, as when the loops take
// every P, whatever else became runnable in this process (timers, the
// caller's goroutines) runs before each wait, or it would wait for the next
// preemption signal. Without it another P runs them: yielding then only
// wakes an idle thread to look for work, two context switches per wait.
//
// batched (if not nil) runs after each wait's events have all been acted on.
func (p *Poll) Wait(yield bool, iter func(fd int, note interface{}) error, batched func()) error {
	events := make([]syscall.EpollEvent, 64)
	n := 0
	for {
		if yield {
			runtime.Gosched()
		}
		var err error
		// Ready work is never left waiting: a full batch is followed at
		// once by the next, and otherwise the loop blocks until the first
		// event. Batching comes from the peers: the swarm's loops send on
		// shared instants, so a gateway wakes once for each such batch.
		if n == len(events) {
			n, err = epollWaitRaw(p.fd, events, 0)
		} else {
			n, err = epollWaitRaw(p.fd, events, p.idleWait)
		}
		if err != nil && err != syscall.EINTR {
			return err
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd != p.wfd {
				if err := iter(fd, nil); err != nil {
					return err
				}
				continue
			}
			// The wake-up is read before the notes are taken: a note
			// queued after this read finds the queue empty and writes
			// the eventfd again, so no note waits for an unrelated event
			// (or the wait's timeout) to be seen.
			var data [8]byte
			syscall.Read(p.wfd, data[:])
			if err := p.notes.ForEach(func(note interface{}) error {
				return iter(0, note)
			}); err != nil {
				return err
			}
		}
		if batched != nil && n > 0 {
			batched()
		}
	}
}

// ctl is epoll_ctl through a raw syscall (imtool's change; see Accept).
func (p *Poll) ctl(op, fd int, events uint32) {
	ev := syscall.EpollEvent{Fd: int32(fd), Events: events}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(p.fd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
		panic(e)
	}
}

// AddReadWrite ...
func (p *Poll) AddReadWrite(fd int) {
	p.ctl(syscall.EPOLL_CTL_ADD, fd, syscall.EPOLLIN|syscall.EPOLLOUT)
}

// AddRead ...
func (p *Poll) AddRead(fd int) {
	p.ctl(syscall.EPOLL_CTL_ADD, fd, syscall.EPOLLIN)
}

// ModRead ...
func (p *Poll) ModRead(fd int) {
	p.ctl(syscall.EPOLL_CTL_MOD, fd, syscall.EPOLLIN)
}

// ModReadWrite ...
func (p *Poll) ModReadWrite(fd int) {
	p.ctl(syscall.EPOLL_CTL_MOD, fd, syscall.EPOLLIN|syscall.EPOLLOUT)
}

// ModDetach ...
func (p *Poll) ModDetach(fd int) {
	p.ctl(syscall.EPOLL_CTL_DEL, fd, syscall.EPOLLIN|syscall.EPOLLOUT)
}

// epollWaitRaw is epoll_wait without telling the Go scheduler that the
// thread blocks (imtool's one change to evio 1.0.8). syscall.EpollWait
// enters a blocking syscall: with GOMAXPROCS=1, as every gateway shard of a
// million-connection run has, sysmon takes the P away within microseconds
// of each wait and the loop must win it back on every wake-up — about five
// context switches per batch of events, most of a loaded machine's. The
// loop now keeps its P while it waits; the runtime's preemption signal
// ends the wait with EINTR (epoll_wait is never restarted), so other
// goroutines and the garbage collector still get their turn within about
// 10 ms.
func epollWaitRaw(epfd int, events []syscall.EpollEvent, msec int) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Read is read(2) on a non-blocking socket through a raw syscall
// (imtool's change): it never blocks, and a thread descheduled inside an
// announced syscall on a busy machine loses its P to sysmon.
func Read(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// Accept takes a connection, non-blocking and close-on-exec, through a raw
// accept4 (imtool's change): an announced syscall wakes a sysmon that
// sleeps while the loop is parked, and lets it take the P from a thread
// descheduled inside the call. The release called accept and fcntl.
func Accept(fd int) (int, syscall.Sockaddr, error) {
	var rsa syscall.RawSockaddrAny
	size := uint32(syscall.SizeofSockaddrAny)
	r, _, e := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	return int(r), rawToSockaddr(&rsa), nil
}

func rawToSockaddr(rsa *syscall.RawSockaddrAny) syscall.Sockaddr {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		pp := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return &syscall.SockaddrInet4{Port: int(port[0])<<8 | int(port[1]), Addr: pp.Addr}
	case syscall.AF_INET6:
		pp := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		port := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return &syscall.SockaddrInet6{Port: int(port[0])<<8 | int(port[1]), ZoneId: pp.Scope_id, Addr: pp.Addr}
	}
	return &syscall.SockaddrUnix{}
}

// CloseFD closes a connection's fd through a raw syscall (see Accept).
func CloseFD(fd int) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0); e != 0 {
		return e
	}
	return nil
}
