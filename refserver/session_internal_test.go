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

// A session holds its connection's socket, which the gateway writes to,
// and the index of the loop that owns it: with two loops balanced by least
// connections, two connections land one on each.
func TestSessionFD(t *testing.T) {
	g, err := NewGateway(Options{Listen: "127.0.0.1", Ports: []uint16{0}, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve()
	<-g.Ready()
	defer g.Shutdown(time.Second)
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", g.Addrs()[0].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		deadline := time.Now().Add(5 * time.Second)
		for g.conns.Load() == int64(i) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	n := 0
	loops := map[uint16]bool{}
	g.reg.each(func(s *session) {
		n++
		loops[s.loop] = true
		var st unix.Stat_t
		if s.fd <= 2 || unix.Fstat(int(s.fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			t.Errorf("session fd %d is not a socket", s.fd)
		}
	})
	if n != 2 || !loops[0] || !loops[1] {
		t.Fatalf("%d sessions registered on loops %v, want 2 on loops 0 and 1", n, loops)
	}
}

// A gateway joined to a dispatcher refuses a --max-frame whose SENDs would
// not fit a ROUTE on the link, and takes the largest that does.
func TestMaxFrameFitsTheLink(t *testing.T) {
	limit := maxLinkFrame - 28
	if _, err := NewGateway(Options{Ports: []uint16{0}, Dispatcher: "127.0.0.1:1", MaxFrame: limit + 1}); err == nil {
		t.Fatalf("--max-frame %d accepted with a dispatcher", limit+1)
	}
	if _, err := NewGateway(Options{Ports: []uint16{0}, Dispatcher: "127.0.0.1:1", MaxFrame: limit}); err != nil {
		t.Fatal(err)
	}
	if got := len(appendLinkRoute(nil, 1, 2, 3, 4, 5, 6, 7, make([]byte, limit-25))) - 4; got != maxLinkFrame {
		t.Fatalf("the ROUTE of the largest SEND is %d bytes long, want the link's maximum %d", got, maxLinkFrame)
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
		// With one shard down, the others hold every connection under
		// their caps (and the binomial spread).
		if procs > 1 && float64(conns)*1.05/float64(procs-1) > float64(perProc) {
			t.Errorf("%d connections on %d shards: one down, %d shards over their cap %d", conns, procs, procs-1, perProc)
		}
	}
}
