//go:build linux

package loadclient

import (
	"context"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/mqtt"
	"github.com/imtool/imtool/internal/mqtt/session"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/wire"
	"github.com/imtool/imtool/internal/ws"
)

// rawListener is a loopback listener served by raw syscalls (accept4 and
// close, no Go allocation), so allocation counts are the client's alone.
func rawListener(tb testing.TB) (port int, stop func()) {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		tb.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	port = sa.(*unix.SockaddrInet4).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
			if e != 0 {
				if e == unix.EINTR || e == unix.ECONNABORTED {
					continue
				}
				return
			}
			unix.Close(int(nfd)) // the client sees FIN: its read path runs too
		}
	}()
	return port, func() { unix.Shutdown(fd, unix.SHUT_RDWR); unix.Close(fd); <-done }
}

// BenchmarkConnect is the epoll engine's whole life of a connection: socket,
// non-blocking connect, epoll, SO_ERROR, held, the server's FIN read, close.
// allocs/op must be 0 (the swarm's fixed costs spread over b.N).
func BenchmarkConnect(b *testing.B) {
	port, stop := rawListener(b)
	defer stop()
	n := max(b.N, 1)
	sw, err := NewWithEnv(Options{Targets: []string{"127.0.0.1:" + strconv.Itoa(port)}, Conns: n, Rate: 1e9,
		Proto: ProtoRaw, Hold: time.Millisecond, Procs: 1, Loops: 1, MaxInflight: 512}, Env{PortRange: [2]int{32768, 60999}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := sw.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	s := sw.Snapshot()
	if s.Established != int64(n) {
		b.Fatalf("established %d of %d (errors %v)", s.Established, n, s.Errors)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "conn/s")
}

// benchLoop is one event loop with one held connection on a socketpair.
func benchLoop(tb testing.TB, o Options) (*eloop, int) {
	tb.Helper()
	o.Targets, o.Conns, o.Procs = []string{"127.0.0.1:9"}, 1, 1
	sw, err := NewWithEnv(o, Env{})
	if err != nil {
		tb.Fatal(err)
	}
	l := sw.eng.(*epollEngine).loops[0]
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	if err := enableRxStamp(fds[0]); err != nil { // the read path takes the kernel's timestamps
		tb.Fatal(err)
	}
	l.conns[0] = conn{fd: int32(fds[0]), state: stHeld}
	return l, fds[1]
}

// BenchmarkReadFrames is the read path: drain the socket, decode frames,
// record latencies. 0 allocs/op.
func BenchmarkReadFrames(b *testing.B) {
	l, peer := benchLoop(b, Options{})
	benchReads(b, l, peer, func(now uint64) uint64 { return msgID(now, 0) })
	if l.conns[0].state != stHeld || l.k.pongs.Load() != int64(16*b.N) {
		b.Fatalf("state %d pongs %d", l.conns[0].state, l.k.pongs.Load())
	}
}

// benchReads times b.N reads of a batch of 16 PONGs, ACKs (of message
// ackID(now)) and DELIVERs, written by peer, through l's read path.
func benchReads(b *testing.B, l *eloop, peer int, ackID func(now uint64) uint64) {
	var batch []byte
	now := uint64(time.Now().UnixNano())
	for i := 0; i < 16; i++ {
		batch = wire.AppendPong(batch, now)
		batch = wire.AppendAck(batch, ackID(now), wire.AckDelivered)
		batch = wire.AppendDeliver(batch, 7, 3, now, make([]byte, 64))
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Write(peer, batch); err != nil {
			b.Fatal(err)
		}
		l.now = l.c.now()
		l.readable(0, unix.EPOLLIN)
	}
	b.StopTimer()
}

// BenchmarkHeartbeat is one timer firing: a PING written at its planned
// time and the next one filed. 0 allocs/op.
func BenchmarkHeartbeat(b *testing.B) {
	l, peer := benchLoop(b, Options{Heartbeat: time.Second})
	l.conns[0].state = stLogin
	l.logins++
	l.held(0)
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.now = l.c.onTick(l.c.beatPlanned(0, l.conns[0].next)) + tickNS
		l.wheel.advance(uint32(l.now/tickNS), l.tickOf, l.fire)
		if i%64 == 63 {
			unix.Read(peer, buf)
		}
	}
	b.StopTimer()
	if got := l.k.pings.Load(); got != int64(b.N) {
		b.Fatalf("%d pings for %d beats", got, b.N)
	}
}

// BenchmarkLoginToken is the HMAC token of a LOGIN. 0 allocs/op.
func BenchmarkLoginToken(b *testing.B) {
	tm := wire.NewTokenMaker([]byte("secret"))
	if string(tm.Token(42)) != string(wire.Token([]byte("secret"), 42)) {
		b.Fatal("token differs from wire.Token")
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tm.Token(uint64(i))
	}
}

// BenchmarkReadWS is the read path of --proto ws: WebSocket pongs and
// echoed messages (one of them fragmented) decoded and timed, a server
// ping answered. 0 allocs/op.
func BenchmarkReadWS(b *testing.B) {
	l, peer := benchLoop(b, Options{Proto: ProtoWS})
	var batch []byte
	now := time.Now().UnixNano()
	var ts [8]byte
	for i := range 8 {
		ts[i] = byte(uint64(now) >> (56 - 8*i))
	}
	echo := []byte(strconv.FormatInt(now, 10) + " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	for i := 0; i < 16; i++ {
		batch = ws.AppendFrame(batch, ws.OpPong, true, ts[:], false, [4]byte{})
		batch = ws.AppendFrame(batch, ws.OpText, true, echo, false, [4]byte{})
	}
	batch = ws.AppendFrame(batch, ws.OpText, false, echo[:10], false, [4]byte{})
	batch = ws.AppendFrame(batch, ws.OpContinuation, true, echo[10:], false, [4]byte{})
	batch = ws.AppendFrame(batch, ws.OpPing, true, []byte("srv"), false, [4]byte{})
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Write(peer, batch); err != nil {
			b.Fatal(err)
		}
		l.now = l.c.now()
		l.readable(0, unix.EPOLLIN)
		if i%16 == 15 {
			unix.Read(peer, buf) // the pongs to the server's pings
		}
	}
	b.StopTimer()
	if l.conns[0].state != stHeld || l.k.pongs.Load() != int64(16*b.N) || l.k.acked.Load() != int64(17*b.N) {
		b.Fatalf("state %d pongs %d echoes %d", l.conns[0].state, l.k.pongs.Load(), l.k.acked.Load())
	}
	if l.c.lat[latEcho].Snapshot().Count != int64(17*b.N) {
		b.Fatalf("%d echoes timed, want %d", l.c.lat[latEcho].Snapshot().Count, 17*b.N)
	}
}

// BenchmarkReadWSIMTool is the read path of --proto ws+imtool: imtool
// frames in binary messages, one frame split across two. 0 allocs/op.
func BenchmarkReadWSIMTool(b *testing.B) {
	l, peer := benchLoop(b, Options{Proto: ProtoWSIMTool})
	var batch []byte
	now := uint64(time.Now().UnixNano())
	for i := 0; i < 16; i++ {
		batch = ws.AppendFrame(batch, ws.OpBinary, true, wire.AppendPong(nil, now), false, [4]byte{})
		batch = ws.AppendFrame(batch, ws.OpBinary, true, wire.AppendAck(nil, msgID(now, 0), wire.AckDelivered), false, [4]byte{})
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Write(peer, batch); err != nil {
			b.Fatal(err)
		}
		l.now = l.c.now()
		l.readable(0, unix.EPOLLIN)
	}
	b.StopTimer()
	if l.conns[0].state != stHeld || l.k.pongs.Load() != int64(16*b.N) || l.k.acked.Load() != int64(16*b.N) {
		b.Fatalf("state %d pongs %d acks %d", l.conns[0].state, l.k.pongs.Load(), l.k.acked.Load())
	}
}

// BenchmarkReadMQTT is the read path of --proto mqtt: 16 QoS 1 PUBLISHes
// from the broker per op, each answered with a PUBACK, deduplicated and
// timed as a delivery. 0 allocs/op.
func BenchmarkReadMQTT(b *testing.B) {
	l, peer := benchLoop(b, Options{Proto: ProtoMQTT, MQTT: MQTTOptions{Version: "5"}})
	l.conns[0].state = stLogin
	l.logins++
	if !l.proto.open(l.exch(0)) {
		b.Fatal("CONNECT not written")
	}
	buf := make([]byte, 64<<10)
	unix.Read(peer, buf)
	if _, err := unix.Write(peer, []byte{0x20, 3, 0, 0, 0}); err != nil { // CONNACK, success
		b.Fatal(err)
	}
	l.now = l.c.now()
	l.readable(0, unix.EPOLLIN)
	if l.conns[0].state != stHeld {
		b.Fatalf("state %d after CONNACK", l.conns[0].state)
	}
	var batch []byte
	now := uint64(time.Now().UnixNano())
	for i := 0; i < 16; i++ {
		pl := make([]byte, session.HeaderLen+40)
		copy(pl, "imq\x01")
		binary.BigEndian.PutUint64(pl[4:], now)
		binary.BigEndian.PutUint32(pl[12:], 7)
		binary.BigEndian.PutUint64(pl[16:], uint64(i+1))
		batch = mqtt.AppendPublish(batch, mqtt.V5, &mqtt.Publish{Topic: []byte("devices/1/in"), QoS: 1, PacketID: uint16(i + 1), Payload: pl})
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Write(peer, batch); err != nil {
			b.Fatal(err)
		}
		l.now = l.c.now()
		l.readable(0, unix.EPOLLIN)
		if i%16 == 15 {
			unix.Read(peer, buf) // the PUBACKs
		}
	}
	b.StopTimer()
	m := &stats.MQTT{}
	l.k.mq.snapshot(m, false)
	if l.conns[0].state != stHeld || m.Received[1] != int64(16*b.N) {
		b.Fatalf("state %d received %d, want %d", l.conns[0].state, m.Received[1], 16*b.N)
	}
}
