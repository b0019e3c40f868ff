//go:build linux

package loadclient

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// RawDialResult is what RawDial measured.
type RawDialResult struct {
	Established int
	Failed      int
	Elapsed     time.Duration // first connect to last established
	Rate        float64       // established per second
}

// RawDial is the floor the swarm is measured against: the simplest
// non-blocking epoll dialer there is — one loop, no pacing, no protocol, no
// counters — opening n connections round-robin over dests (optionally from
// one bound source, with IP_BIND_ADDRESS_NO_PORT), at most inflight at once,
// holding them until all are open, then closing them with RST. It needs n fds.
func RawDial(dests []netip.AddrPort, source netip.Addr, n, inflight int) (RawDialResult, error) {
	var res RawDialResult
	if len(dests) == 0 || n < 1 {
		return res, fmt.Errorf("RawDial: no destinations or connections")
	}
	inflight = max(inflight, 1)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return res, err
	}
	defer unix.Close(epfd)
	sas := make([]unix.Sockaddr, len(dests))
	for i, d := range dests {
		sas[i] = sockaddr(d.Addr(), int(d.Port()))
	}
	var src unix.Sockaddr
	if source.IsValid() {
		src = sockaddr(source, 0)
	}
	fds := make([]int32, 0, n)
	defer func() { // RST, so no TIME_WAIT is left to slow the next measurement
		l := unix.Linger{Onoff: 1, Linger: 0}
		for _, fd := range fds {
			_ = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &l)
			unix.Close(int(fd))
		}
	}()
	events := make([]unix.EpollEvent, 1024)
	var ev unix.EpollEvent
	pending, started := 0, 0
	start := time.Now()
	for res.Established+res.Failed < n {
		for pending < inflight && started < n {
			started++
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				res.Failed++
				continue
			}
			if src != nil {
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
				if unix.Bind(fd, src) != nil {
					unix.Close(fd)
					res.Failed++
					continue
				}
			}
			if err := unix.Connect(fd, sas[started%len(sas)]); err != nil && err != unix.EINPROGRESS {
				unix.Close(fd)
				res.Failed++
				continue
			}
			fds = append(fds, int32(fd))
			ev = unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLET, Fd: int32(fd)}
			if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev) != nil {
				res.Failed++
				continue
			}
			pending++
		}
		k, err := unix.EpollWait(epfd, events, 100)
		if err != nil && err != unix.EINTR {
			return res, err
		}
		for i := 0; i < k; i++ {
			fd := int(events[i].Fd)
			pending--
			if e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e == 0 {
				res.Established++
			} else {
				res.Failed++
			}
			_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, nil)
		}
	}
	res.Elapsed = time.Since(start)
	res.Rate = float64(res.Established) / res.Elapsed.Seconds()
	return res, nil
}

func sockaddr(a netip.Addr, port int) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Addr: a.As4(), Port: port}
	}
	return &unix.SockaddrInet6{Addr: a.As16(), Port: port}
}
