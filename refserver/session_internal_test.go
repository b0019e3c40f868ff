package refserver

import (
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/host"
)

// The session is paid per connection: keep it at 64 bytes.
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 64 {
		t.Fatalf("session is %d bytes, want ≤ 64", n)
	}
}

// A session holds its connection's socket, which the gateway writes to.
func TestSessionFD(t *testing.T) {
	g, err := NewGateway(Options{Listen: "127.0.0.1", Ports: []uint16{0}})
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve()
	<-g.Ready()
	defer g.Shutdown(time.Second)
	c, err := net.Dial("tcp", g.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for g.conns.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	n := 0
	g.reg.each(func(s *session) {
		n++
		var st unix.Stat_t
		if s.fd <= 2 || unix.Fstat(int(s.fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			t.Errorf("session fd %d is not a socket", s.fd)
		}
	})
	if n != 1 {
		t.Fatalf("%d sessions registered, want 1", n)
	}
}

// PlanProcs plans shards that fill at most 90% of their fd limit, with the
// binomial headroom on top, and caps each at what the limit allows.
func TestPlanProcsHeadroom(t *testing.T) {
	limit, err := fdLimit()
	if err != nil {
		t.Fatal(err)
	}
	for _, conns := range []int{1000, 100000, 1000000} {
		procs, perProc, err := PlanProcs(conns, 20)
		if err != nil {
			t.Fatal(err)
		}
		if avg := float64(conns) * 1.05 / float64(procs); avg > 0.9*float64(limit) {
			t.Errorf("%d connections on %d shards: %.0f each with headroom, over 90%% of the limit %d", conns, procs, avg, limit)
		}
		if perProc != limit-host.FDReserve-20 {
			t.Errorf("cap %d, want the limit %d less the reserve and listeners", perProc, limit)
		}
	}
}
