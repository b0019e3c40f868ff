package refserver_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/wire"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// bin is the imtool binary the process tests run and kill.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imtool-refserver-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = rt.BuildBinary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// The command as a person types it: `imtool server` (ports 9000-9019, stats
// on 9100) and `imtool server --ports 9000-9019 --auth-secret …`.
func TestServerCommandDefaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		secret string
	}{
		{"defaults", []string{"server"}, ""},
		{"range and secret", []string{"server", "--ports", "9000-9019", "--auth-secret", "s3cret"}, "s3cret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := rt.Start(t, bin, tc.args...)
			rt.WaitStats(t, "http://127.0.0.1:9100/stats", 10*time.Second, "the gateway", func(s stats.Snapshot) bool { return len(s.Ports) == 20 })
			for port := 9000; port <= 9019; port++ {
				uid := uint64(port)
				token := "whatever"
				if tc.secret != "" {
					token = string(wire.Token([]byte(tc.secret), uid))
					bad := rt.Dial(t, addr(port))
					bad.Write(rt.LoginFrame(uid, "forged"))
					bad.ExpectError(wire.CodeLoginRejected)
				}
				c := rt.Dial(t, addr(port))
				c.Login(uid, token)
				c.Write(rt.PingFrame(uid))
				if f := c.Expect(rt.Pong); f.TS != uid {
					t.Fatalf("port %d: PONG %d", port, f.TS)
				}
			}
			// Rejected connections are closed just after their client saw EOF: wait for them to go.
			s := rt.WaitStats(t, "http://127.0.0.1:9100/stats", 5*time.Second, "20 sessions on 20 connections", func(s stats.Snapshot) bool { return s.Sessions == 20 && s.Connections == 20 })
			for port, n := range s.Ports {
				if n != 1 {
					t.Errorf("port %s: %d connections, want 1", port, n)
				}
			}
			p.Signal(syscall.SIGTERM)
			if err, done := p.Wait(10 * time.Second); !done || err != nil {
				t.Fatalf("graceful exit: done %v err %v", done, err)
			}
		})
	}
}

// cluster is two gateways and a dispatcher as processes; they belong to the
// top-level test t, so subtests can restart them without their cleanup
// killing them.
type cluster struct {
	t                   *testing.T
	dispPort, dispStats int
	gwPorts, gwStats    [2]int
	disp                *rt.Proc
	gw                  [2]*rt.Proc
}

func (c *cluster) startDispatcher(t *testing.T) {
	c.disp = rt.Start(c.t, bin, "dispatcher", "--listen", addr(c.dispPort), "--stats", addr(c.dispStats))
	rt.WaitStats(t, c.dispURL(), 10*time.Second, "the dispatcher", func(stats.Snapshot) bool { return true })
}

func (c *cluster) startGateway(t *testing.T, i int) {
	c.gw[i] = rt.Start(c.t, bin, "server", "--listen", "127.0.0.1", "--ports", fmt.Sprintf("%d-%d", c.gwPorts[i], c.gwPorts[i]),
		"--stats", addr(c.gwStats[i]), "--dispatcher", addr(c.dispPort), "--gateway-id", fmt.Sprintf("gw%c", 'A'+i))
}

// startCluster starts a dispatcher and two gateways on free loopback ports
// and waits for both links to be up.
func startCluster(t *testing.T) *cluster {
	ports, _ := rt.FreePorts(t, 6)
	c := &cluster{t: t, dispPort: ports[0], dispStats: ports[1], gwPorts: [2]int{ports[2], ports[3]}, gwStats: [2]int{ports[4], ports[5]}}
	c.startDispatcher(t)
	c.startGateway(t, 0)
	c.startGateway(t, 1)
	for i := 0; i < 2; i++ {
		c.waitLinked(t, i)
	}
	return c
}

func (c *cluster) waitLinked(t *testing.T, i int) {
	rt.WaitStats(t, c.gwURL(i), 10*time.Second, "link up", func(s stats.Snapshot) bool { return s.Dispatcher == "up" })
}

// waitRoutesComplete waits for the dispatcher to know every gateway's
// routes: until then a SEND to a uid it does not know is answered 2, not 1.
func (c *cluster) waitRoutesComplete(t *testing.T) {
	rt.WaitStats(t, c.dispURL(), 10*time.Second, "routes rebuilt", func(s stats.Snapshot) bool { return s.Dispatcher == "up" })
}

func (c *cluster) gwAddr(i int) string { return addr(c.gwPorts[i]) }

func (c *cluster) gwURL(i int) string { return "http://" + addr(c.gwStats[i]) + "/stats" }
func (c *cluster) dispURL() string    { return "http://" + addr(c.dispStats) + "/stats" }

// Two gateways and a dispatcher, as real processes: cross-gateway
// SEND/ACK/DELIVER and KICK, then the three faults, by killing processes.
func TestDispatcherAndFaults(t *testing.T) {
	c := startCluster(t)
	u1 := rt.Dial(t, addr(c.gwPorts[0]))
	u1.Login(1, "x")
	u2 := rt.Dial(t, addr(c.gwPorts[1]))
	u2.Login(2, "x")
	rt.WaitStats(t, c.dispURL(), 5*time.Second, "2 routes", func(s stats.Snapshot) bool { return s.Sessions == 2 && s.Gateways == 2 })

	t.Run("cross-gateway send", func(t *testing.T) {
		u1.Write(rt.SendFrame(10, 2, 555, "hi B"))
		if f := u1.Expect(rt.Ack); f.MsgID != 10 || f.Status != wire.AckDelivered {
			t.Fatalf("got %v", f)
		}
		if f := u2.Expect(rt.Deliver); f.MsgID != 10 || f.FromUID != 1 || f.SentTS != 555 || f.Payload != "hi B" {
			t.Fatalf("DELIVER %+v", f)
		}
		c.waitRoutesComplete(t)
		u1.Write(rt.SendFrame(11, 404, 1, "nobody"))
		if f := u1.Expect(rt.Ack); f.Status != wire.AckOffline {
			t.Fatalf("to an unknown uid: %v", f)
		}
	})

	t.Run("cross-gateway kick", func(t *testing.T) {
		old := rt.Dial(t, addr(c.gwPorts[0]))
		old.Login(3, "x")
		rt.WaitStats(t, c.dispURL(), 5*time.Second, "uid 3 routed", func(s stats.Snapshot) bool { return s.Sessions == 3 })
		newer := rt.Dial(t, addr(c.gwPorts[1]))
		newer.Login(3, "x")
		if f := old.Expect(rt.Kick); f.Code != wire.CodeDuplicateLogin {
			t.Fatalf("got %v", f)
		}
		old.ExpectClosed()
		u1.Write(rt.SendFrame(12, 3, 1, "to the newest"))
		if f := u1.Expect(rt.Ack); f.Status != wire.AckDelivered {
			t.Fatalf("SEND to the newest session: %v", f)
		}
		if f := newer.Expect(rt.Deliver); f.MsgID != 12 {
			t.Fatalf("DELIVER %+v", f)
		}
		newer.Write(rt.LogoutFrame())
		newer.ExpectClosed()
		rt.WaitStats(t, c.dispURL(), 5*time.Second, "uid 3 offline", func(s stats.Snapshot) bool { return s.Sessions == 2 })
	})

	t.Run("dispatcher hung: the heartbeat notices within 3s", func(t *testing.T) {
		c.disp.Signal(syscall.SIGSTOP) // no FIN, no RST: only the link heartbeat can tell
		stopped := time.Now()
		rt.WaitStats(t, c.gwURL(0), 3*time.Second, "link down within 3s", func(s stats.Snapshot) bool { return s.Dispatcher == "down" })
		t.Logf("gateway noticed the hung dispatcher after %v", time.Since(stopped).Round(time.Millisecond))
		c.disp.Signal(syscall.SIGCONT)
		for i := 0; i < 2; i++ {
			rt.WaitStats(t, c.gwURL(i), 5*time.Second, "link up again", func(s stats.Snapshot) bool { return s.Dispatcher == "up" })
		}
		rt.WaitStats(t, c.dispURL(), 5*time.Second, "routes resynced", func(s stats.Snapshot) bool { return s.Sessions == 2 && s.Gateways == 2 })
	})

	t.Run("dispatcher down: ACK 2 at once", func(t *testing.T) {
		killed := time.Now()
		c.disp.Kill()
		rt.WaitStats(t, c.gwURL(0), 3*time.Second, "link down within 3s", func(s stats.Snapshot) bool { return s.Dispatcher == "down" })
		t.Logf("gateway noticed the dispatcher down after %v", time.Since(killed).Round(time.Millisecond))
		u1.Write(rt.SendFrame(20, 2, 1, "lost?"))
		f, err := u1.Read(500 * time.Millisecond)
		if err != nil || f.Type != rt.Ack || f.MsgID != 20 || f.Status != wire.AckRouteUnavailable {
			t.Fatalf("got %v, %v; want ACK 2 at once", f, err)
		}
		u1.Write(rt.PingFrame(1)) // local service goes on
		u1.Expect(rt.Pong)
	})

	t.Run("dispatcher back: delivery within 5s", func(t *testing.T) {
		restarted := time.Now()
		c.startDispatcher(t)
		for msg := uint64(30); ; msg++ {
			u1.Write(rt.SendFrame(msg, 2, 1, "again"))
			f := u1.Expect(rt.Ack)
			if f.Status == wire.AckDelivered {
				if d := u2.Expect(rt.Deliver); d.MsgID != msg {
					t.Fatalf("DELIVER %d, want %d", d.MsgID, msg)
				}
				t.Logf("cross-gateway delivery back %v after the restart", time.Since(restarted).Round(time.Millisecond))
				break
			}
			if time.Since(restarted) > 5*time.Second {
				t.Fatalf("no delivery 5s after the dispatcher came back (last ACK %v)", f)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("gateway killed and restarted", func(t *testing.T) {
		c.gw[1].Kill()
		rt.WaitStats(t, c.dispURL(), 3*time.Second, "gwB's routes dropped", func(s stats.Snapshot) bool { return s.Sessions == 1 && s.Gateways == 1 })
		c.waitRoutesComplete(t)
		u1.Write(rt.SendFrame(40, 2, 1, "gone"))
		if f := u1.Expect(rt.Ack); f.Status != wire.AckOffline {
			t.Fatalf("to a user of a dead gateway: %v", f)
		}
		c.startGateway(t, 1)
		rt.WaitStats(t, c.gwURL(1), 10*time.Second, "restarted gwB linked", func(s stats.Snapshot) bool { return s.Dispatcher == "up" })
		u2b := rt.Dial(t, addr(c.gwPorts[1]))
		u2b.Login(2, "x")
		s := rt.WaitStats(t, c.dispURL(), 5*time.Second, "gwB registered once", func(s stats.Snapshot) bool { return s.Sessions == 2 && s.Gateways == 2 })
		ids := []string{}
		for _, sh := range s.Shards {
			ids = append(ids, sh.ID)
		}
		if strings.Join(ids, ",") != "gwA,gwB" {
			t.Fatalf("dispatcher lists gateways %v", ids)
		}
		u1.Write(rt.SendFrame(41, 2, 1, "welcome back"))
		if f := u1.Expect(rt.Ack); f.Status != wire.AckDelivered {
			t.Fatalf("got %v", f)
		}
		u2b.Expect(rt.Deliver)
	})
}

// --procs 3: three gateway processes on the same ports, joined by the
// parent's dispatcher; /stats lists each shard and their sum matches ss.
func TestProcs3(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss (iproute2) is not installed: apt-get install iproute2")
	}
	ports, list := rt.FreePorts(t, 5)
	statsPort := rt.FreePort(t)
	url := "http://" + addr(statsPort) + "/stats"
	rt.Start(t, bin, "server", "--procs", "3", "--listen", "127.0.0.1", "--ports", list, "--stats", addr(statsPort))
	rt.WaitStats(t, url, 15*time.Second, "3 shards", func(s stats.Snapshot) bool {
		if len(s.Shards) != 3 {
			return false
		}
		for _, sh := range s.Shards {
			if len(sh.Ports) != 5 || sh.Dispatcher != "up" {
				return false
			}
		}
		return true
	})
	const n = 300
	clients := make([]*rt.Client, n)
	for i := range clients {
		clients[i] = rt.Dial(t, addr(ports[i%len(ports)]))
		clients[i].Login(uint64(i+1), "x")
	}
	s := rt.WaitStats(t, url, 10*time.Second, "300 sessions", func(s stats.Snapshot) bool { return s.Sessions == n })
	for i, sh := range s.Shards {
		if sh.Connections == 0 {
			t.Errorf("shard %d holds no connection: SO_REUSEPORT did not spread them", i)
		}
		t.Logf("shard %s: %d connections", sh.ID, sh.Connections)
	}
	// Every user messages the next: with three shards, most pairs cross.
	for i, c := range clients {
		c.Write(rt.SendFrame(uint64(1000+i), uint64((i+1)%n+1), 7, "ring"))
	}
	for i, c := range clients {
		got := map[byte]rt.Frame{}
		for j := 0; j < 2; j++ {
			f, err := c.Read(5 * time.Second)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			got[f.Type] = f
		}
		if got[rt.Ack].Status != wire.AckDelivered || got[rt.Deliver].FromUID != uint64((i+n-1)%n+1) {
			t.Fatalf("client %d got %+v", i, got)
		}
	}
	var filter []string
	for _, p := range ports {
		filter = append(filter, "sport = :"+strconv.Itoa(p))
	}
	out, err := exec.Command("ss", "-Htn", "state", "established", "( "+strings.Join(filter, " or ")+" )").Output()
	if err != nil {
		t.Fatal(err)
	}
	established := len(strings.Split(strings.TrimSpace(string(out)), "\n"))
	s, _ = rt.GetStats(url)
	if int64(established) != s.Connections || s.Connections != n {
		t.Fatalf("ss counts %d established, /stats says %d connections, want %d", established, s.Connections, n)
	}
}
