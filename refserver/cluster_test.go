package refserver_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/wire"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// The promises of docs/PROTOCOL.md across gateways, with real processes.

// One uid logs in on gateway A, then B, then A again, each after the
// previous LOGIN_OK: the third login survives and the first two are
// kicked, at gaps of 20 ms and 3 ms; once every client is gone, the
// dispatcher holds no route.
func TestNewestLoginWinsAcrossGateways(t *testing.T) {
	c := startCluster(t)
	const trials, parallel = 40, 10
	var clients []*rt.Client
	for batch := 0; batch < trials/parallel; batch++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for j := 0; j < parallel; j++ {
			trial := batch*parallel + j
			uid := uint64(1000 + trial)
			gap := 20 * time.Millisecond
			if trial%2 == 1 {
				gap = 3 * time.Millisecond
			}
			logins := make([]*rt.Client, 3)
			for k := range logins {
				logins[k] = rt.Dial(t, c.gwAddr(k%2)) // A, B, A
			}
			clients = append(clients, logins...)
			wg.Add(1)
			go func() {
				defer wg.Done()
				fail := func(format string, args ...any) {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("trial %d (uid %d, gap %v): ", trial, uid, gap)+fmt.Sprintf(format, args...))
					mu.Unlock()
				}
				for k, l := range logins {
					if k > 0 {
						time.Sleep(gap)
					}
					l.Conn.Write(rt.LoginFrame(uid, "x"))
					if f, err := l.Read(5 * time.Second); err != nil || f.Type != rt.LoginOK {
						fail("login %d: %v %v", k+1, f, err)
						return
					}
				}
				for k, l := range logins[:2] {
					frames, err := l.ReadAll(3 * time.Second)
					if len(frames) != 1 || frames[0].Type != rt.Kick || frames[0].Code != wire.CodeDuplicateLogin || errors.Is(err, rt.ErrStillOpen) {
						fail("login %d (older) got %v then %v, want KICK 8 and close", k+1, frames, err)
					}
				}
				newest := logins[2]
				newest.Conn.Write(rt.PingFrame(uid))
				frames, err := newest.ReadAll(500 * time.Millisecond)
				if len(frames) != 1 || frames[0].Type != rt.Pong || !errors.Is(err, rt.ErrStillOpen) {
					fail("login 3 (newest) got %v then %v, want PONG and still open", frames, err)
				}
			}()
		}
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	rt.WaitStats(t, c.dispURL(), 5*time.Second, "one route per uid", func(s stats.Snapshot) bool { return s.Sessions == trials })
	for _, cl := range clients {
		cl.Conn.Close()
	}
	for i := 0; i < 2; i++ {
		rt.WaitStats(t, c.gwURL(i), 5*time.Second, "no sessions", func(s stats.Snapshot) bool { return s.Sessions == 0 && s.Connections == 0 })
	}
	rt.WaitStats(t, c.dispURL(), 5*time.Second, "routes gone with their sessions", func(s stats.Snapshot) bool {
		n := s.Sessions
		for _, sh := range s.Shards {
			n += sh.Sessions
		}
		return n == 0
	})
}

// sendLog is what one sender saw of its SENDs and one recipient of their
// DELIVERs.
type sendLog struct {
	mu        sync.Mutex
	status    map[uint64]uint8
	delivered map[uint64]int
}

func newSendLog() *sendLog {
	return &sendLog{status: map[uint64]uint8{}, delivered: map[uint64]int{}}
}

// receive records every DELIVER c reads until it closes; it returns a
// function that waits for that.
func (l *sendLog) receive(c *rt.Client) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			f, err := c.Read(time.Minute)
			if err != nil {
				return
			}
			if f.Type == rt.Deliver {
				l.mu.Lock()
				l.delivered[f.MsgID]++
				l.mu.Unlock()
			}
		}
	}()
	return func() { c.Conn.Close(); <-done }
}

// startSendLog starts a cluster with uid 1 on gateway A and uid 2 on B,
// whose DELIVERs the log records until stop.
func startSendLog(t *testing.T) (c *cluster, u1 *rt.Client, log *sendLog, stop func()) {
	c = startCluster(t)
	u1 = rt.Dial(t, c.gwAddr(0))
	u1.Login(1, "x")
	u2 := rt.Dial(t, c.gwAddr(1))
	u2.Login(2, "x")
	rt.WaitStats(t, c.dispURL(), 5*time.Second, "2 routes", func(s stats.Snapshot) bool { return s.Sessions == 2 })
	log = newSendLog()
	return c, u1, log, log.receive(u2)
}

// send sends msg from u1 to uid 2, waits for its ACK and records it.
func (l *sendLog) send(u1 *rt.Client, msg uint64, payload string) uint8 {
	u1.Write(rt.SendFrame(msg, 2, msg, payload))
	f := u1.Expect(rt.Ack)
	l.mu.Lock()
	l.status[f.MsgID] = f.Status
	l.mu.Unlock()
	return f.Status
}

// check fails t unless every ACK 0 was delivered once and nothing
// answered otherwise was delivered.
func (l *sendLog) check(t *testing.T) map[uint8]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	by := map[uint8]int{}
	for id, st := range l.status {
		by[st]++
		n := l.delivered[id]
		switch {
		case n > 1:
			t.Errorf("msg %d delivered %d times", id, n)
		case st == wire.AckDelivered && n == 0:
			t.Errorf("msg %d was ACKed 0 and never delivered", id)
		case st != wire.AckDelivered && n > 0:
			t.Errorf("msg %d was answered %d and delivered", id, st)
		}
	}
	return by
}

// The dispatcher stopped (SIGSTOP) while SENDs are routed through it, then
// resumed: every SEND of that time is answered 2 and none of them is
// delivered afterwards, by the old link or a new one.
func TestNothingAnswered2IsDeliveredLater(t *testing.T) {
	c, u1, log, stop := startSendLog(t)
	c.disp.Signal(syscall.SIGSTOP)
	msg := uint64(0)
	for i := 0; i < 40; i++ {
		msg++
		u1.Write(rt.SendFrame(msg, 2, msg, strings.Repeat("p", 30000)))
		time.Sleep(25 * time.Millisecond)
	}
	for i := 0; i < 40; i++ {
		f := u1.Expect(rt.Ack)
		log.status[f.MsgID] = f.Status
	}
	c.disp.Signal(syscall.SIGCONT)
	for i := 0; i < 2; i++ {
		c.waitLinked(t, i)
	}
	rt.WaitStats(t, c.dispURL(), 5*time.Second, "2 routes again", func(s stats.Snapshot) bool { return s.Sessions == 2 && s.Gateways == 2 })
	for deadline := time.Now().Add(5 * time.Second); ; {
		msg++
		if log.send(u1, msg, "after") == wire.AckDelivered || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // time for a stale frame to arrive
	stop()
	by := log.check(t)
	t.Logf("ACKs by status: %v", by)
	if by[wire.AckDelivered] != 1 {
		t.Fatalf("ACKs by status %v: want the last SEND delivered", by)
	}
}

// The dispatcher SIGKILLed and restarted twice while a sender keeps
// sending to a recipient that stays online: while the routes are rebuilt
// the answer is 2, never 1, and every ACK 0 is delivered.
func TestDispatcherRestartAnswers2(t *testing.T) {
	c, u1, log, stop := startSendLog(t)
	msg := uint64(0)
	for restart := 0; restart < 2; restart++ {
		c.disp.Kill()
		time.Sleep(1500 * time.Millisecond) // the gateways' redial backoff grows apart
		c.startDispatcher(t)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			msg++
			log.send(u1, msg, "x")
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	by := log.check(t)
	t.Logf("ACKs by status: %v", by)
	if by[wire.AckOffline] > 0 {
		t.Errorf("%d SENDs to a recipient online all along were answered 1 (offline)", by[wire.AckOffline])
	}
	if by[wire.AckDelivered] == 0 {
		t.Errorf("nothing delivered after the restarts")
	}
}
