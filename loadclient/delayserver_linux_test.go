//go:build linux

package loadclient

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// The delay server is the known delay the swarm's latencies are checked
// against: an IM gateway written from docs/PROTOCOL.md (with the frame
// builders of refservertest, not the wire package the swarm uses) that
// answers LOGIN, PING and SEND — and delivers to recipients logged in on
// it — exactly IMTOOL_DELAY after each request was read, from one thread
// that sleeps on the monotonic clock with no timer slack. It times every
// answer itself, from the request's own timestamp (the swarm's planned
// send time: PING ts, SEND sent_ts) to the moment the answer was written,
// and prints those on SIGTERM: what the swarm must report, less the
// loopback's return trip.
//
// It runs as the test binary with IMTOOL_LC_HELPER=delayserver, listening
// on 127.0.0.1:0, and prints "listening PORT" first.

// delayReport is what the delay server prints when it stops: its answers'
// latencies by kind (ns, from the request's timestamp to the write) and
// its own holding times (read to write), and how many logins it answered.
type delayReport struct {
	Latency map[string][]int64
	Held    []int64
	Logins  int // LOGIN_OKs written
}

type delayReply struct {
	due  int64 // CLOCK_MONOTONIC ns
	conn *delayConn
	b    []byte
	kind string // "heartbeat", "ack", "deliver", "" (login)
	ts   uint64 // the request's timestamp, wall-clock ns
	read int64  // CLOCK_MONOTONIC ns at which the request was read
}

type delayConn struct {
	c   net.Conn
	uid uint64
}

type delayServer struct {
	delay time.Duration
	mu    sync.Mutex
	queue []delayReply
	wake  chan struct{}
	users map[uint64]*delayConn
	rep   delayReport
}

func delayServerMain() int {
	d, err := time.ParseDuration(os.Getenv("IMTOOL_DELAY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "IMTOOL_DELAY:", err)
		return 2
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := &delayServer{delay: d, wake: make(chan struct{}, 1), users: map[uint64]*delayConn{},
		rep: delayReport{Latency: map[string][]int64{}}}
	go s.sender()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = json.NewEncoder(os.Stdout).Encode(s.rep)
	return 0
}

func monoNS() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func (s *delayServer) serve(c net.Conn) {
	defer c.Close()
	dc := &delayConn{c: c}
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[:4])-1)
		if _, err := io.ReadFull(r, body); err != nil {
			break
		}
		read := monoNS()
		switch hdr[4] {
		case rt.Login:
			dc.uid = binary.BigEndian.Uint64(body)
			s.mu.Lock()
			s.users[dc.uid] = dc
			s.mu.Unlock()
			s.reply(delayReply{conn: dc, read: read, b: rt.FrameBytes(rt.LoginOK, u64be(dc.uid, dc.uid, uint64(time.Now().UnixMilli())))})
		case rt.Ping:
			ts := binary.BigEndian.Uint64(body)
			s.reply(delayReply{conn: dc, read: read, kind: "heartbeat", ts: ts, b: rt.FrameBytes(rt.Pong, u64be(ts))})
		case rt.Send:
			id, to, ts := binary.BigEndian.Uint64(body), binary.BigEndian.Uint64(body[8:]), binary.BigEndian.Uint64(body[16:])
			s.mu.Lock()
			rcpt := s.users[to]
			s.mu.Unlock()
			status := byte(1)
			if rcpt != nil {
				status = 0
				s.reply(delayReply{conn: rcpt, read: read, kind: "deliver", ts: ts,
					b: rt.FrameBytes(rt.Deliver, append(u64be(id, dc.uid, ts), body[24:]...))})
			}
			s.reply(delayReply{conn: dc, read: read, kind: "ack", ts: ts, b: rt.FrameBytes(rt.Ack, append(u64be(id), status))})
		}
	}
	s.mu.Lock()
	if s.users[dc.uid] == dc {
		delete(s.users, dc.uid)
	}
	s.mu.Unlock()
}

// reply queues r for read+delay, or writes it at once without a delay.
func (s *delayServer) reply(r delayReply) {
	if s.delay == 0 {
		s.write(r)
		return
	}
	r.due = r.read + int64(s.delay)
	s.mu.Lock()
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *delayServer) write(r delayReply) {
	_, err := r.conn.c.Write(r.b)
	wrote := monoNS()
	now := time.Now().UnixNano()
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.Held = append(s.rep.Held, wrote-r.read)
	if r.kind != "" {
		s.rep.Latency[r.kind] = append(s.rep.Latency[r.kind], now-int64(r.ts))
	} else {
		s.rep.Logins++
	}
}

// sender writes the queued replies at their due time from one OS thread
// with a timer slack of 1 ns, so a reply leaves within microseconds of it.
// The delay is the same for every reply, so the queue is in due order.
func (s *delayServer) sender() {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			<-s.wake
			continue
		}
		r := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		for {
			now := monoNS()
			if now >= r.due {
				break
			}
			ts := unix.NsecToTimespec(r.due)
			_ = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		}
		s.write(r)
	}
}

func u64be(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// p50 is the median of xs (ns).
func p50(xs []int64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return time.Duration(s[len(s)/2])
}
