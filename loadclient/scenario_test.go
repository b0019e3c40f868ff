package loadclient

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// lineServer is a line protocol written for these tests: it greets with
// "HELLO <sid>", logs in on "AUTH <sid> <uid>" (the sid it gave, else "NO"),
// pings with "PING <n>" every ping and closes a connection whose "PONG <n>"
// does not come before the next ping; uid bad gets a line longer than any
// frame the scenario allows. It counts the connections logged in.
type lineServer struct {
	addr   string
	authed atomic.Int64
	pongs  atomic.Int64
	ln     net.Listener
	wg     sync.WaitGroup
}

func startLineServer(t *testing.T, ping time.Duration, bad string) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &lineServer{addr: ln.Addr().String(), ln: ln}
	var conns sync.Map
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.serve(c, fmt.Sprintf("s%d", i), ping, bad)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		s.wg.Wait()
	})
	return s
}

func (s *lineServer) serve(c net.Conn, sid string, ping time.Duration, bad string) {
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "NOTICE welcome\nHELLO %s\n", sid)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "AUTH" || f[1] != sid {
		fmt.Fprintf(c, "NO\n")
		return
	}
	if f[2] == bad {
		fmt.Fprintf(c, "%s\n", strings.Repeat("x", 100))
		r.ReadString('\n')
		return
	}
	fmt.Fprintf(c, "OK %s\n", f[2])
	s.authed.Add(1)
	defer s.authed.Add(-1)
	lines := make(chan string)
	go func() {
		defer close(lines)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- strings.TrimSpace(l)
		}
	}()
	for n := 1; ; n++ {
		fmt.Fprintf(c, "PING %d\n", n)
		deadline := time.After(ping)
		for answered := false; !answered; {
			select {
			case l, ok := <-lines:
				if !ok {
					return
				}
				if l == fmt.Sprintf("PONG %d", n) {
					s.pongs.Add(1)
					answered = true
				}
			case <-deadline:
				fmt.Fprintf(c, "ERR no pong\n")
				return
			}
		}
		<-deadline
	}
}

const lineScenario = `
framing: line
max_frame: 64
open:
  - expect: {regex: '^HELLO (?P<sid>\w+)$'}
  - send: "AUTH {sid} {uid}\n"
    expect: "OK "
answers:
  - match: {regex: '^PING (?P<n>\d+)$'}
    send: "PONG {n}\n"
errors:
  - match: {equals: "NO"}
    class: refused
    fix: "the server refused the AUTH"
`

// A scenario that captures a session id in one step and sends it in the
// next, answers the server's pings with the number each carried, and picks
// its frames among others (a NOTICE first); on both engines. One connection
// broken by its server (a frame over max_frame) is closed alone.
func TestScenarioSteps(t *testing.T) {
	for _, engine := range []string{EngineEpoll, EnginePortable} {
		t.Run(engine, func(t *testing.T) {
			srv := startLineServer(t, 200*time.Millisecond, "3")
			const n = 20
			sw, errc := startSwarm(t, Options{Targets: []string{srv.addr}, Conns: n, Procs: 1, Engine: engine, Hold: time.Second,
				Scenario: &ScenarioFile{Name: "line.yaml", Source: []byte(lineScenario)}})
			waitRun(t, errc, 30*time.Second)
			s := sw.Snapshot()
			if held := sw.HeldAtEnd(); held != n-1 || s.Errors[stats.ErrProtocol] != 1 || len(s.Errors) != 1 {
				t.Fatalf("held %d, errors %v (%v): want %d held and one protocol error", held, s.Errors, s.ErrorExample, n-1)
			}
			if !strings.Contains(s.ErrorExample[stats.ErrProtocol], "max_frame") {
				t.Errorf("the broken connection's error does not say why: %s", s.ErrorExample[stats.ErrProtocol])
			}
			// 1 s held, a ping each 200 ms: every one answered, or the
			// server would have closed the connection.
			if s.Dropped != 0 || s.ServerPings < 4*(n-1) || srv.pongs.Load() != s.ServerPings {
				t.Errorf("dropped %d; answered %d server pings, the server counted %d", s.Dropped, s.ServerPings, srv.pongs.Load())
			}
			if s.Latency[stats.LatLogin].Count != n-1 {
				t.Errorf("%d logins timed", s.Latency[stats.LatLogin].Count)
			}
		})
	}
}

// A server that refuses: the scenario's own class, with its fix, on both
// engines; a step that waits in vain: step_timeout after the step's own
// timeout, with the step and the bytes seen.
func TestScenarioRefusedAndStuck(t *testing.T) {
	for _, engine := range []string{EngineEpoll, EnginePortable} {
		t.Run(engine, func(t *testing.T) {
			srv := startLineServer(t, time.Second, "")
			refused := strings.Replace(lineScenario, `"AUTH {sid} {uid}\n"`, `"AUTH other {uid}\n"`, 1)
			sw, errc := startSwarm(t, Options{Targets: []string{srv.addr}, Conns: 5, Procs: 1, Engine: engine, Hold: 100 * time.Millisecond,
				Scenario: &ScenarioFile{Name: "refused.yaml", Source: []byte(refused)}})
			waitRun(t, errc, 30*time.Second)
			s := sw.Snapshot()
			if s.Errors["refused"] != 5 || s.Fixes["refused"] != "the server refused the AUTH" || !strings.Contains(s.ErrorExample["refused"], `"NO"`) {
				t.Fatalf("errors %v, fixes %v, examples %v", s.Errors, s.Fixes, s.ErrorExample)
			}
			stuck := strings.Replace(lineScenario, `expect: "OK "`, "expect: \"WELCOME\"\n    timeout: 300ms", 1)
			start := time.Now()
			sw, errc = startSwarm(t, Options{Targets: []string{srv.addr}, Conns: 5, Procs: 1, Engine: engine, Hold: 100 * time.Millisecond,
				LoginTimeout: 20 * time.Second, Scenario: &ScenarioFile{Name: "stuck.yaml", Source: []byte(stuck)}})
			waitRun(t, errc, 30*time.Second)
			s = sw.Snapshot()
			ex := s.ErrorExample[stats.ErrStepTimeout]
			if s.Errors[stats.ErrStepTimeout] != 5 || !strings.Contains(ex, `step 2 (line 6): expect prefix "WELCOME": no frame matched within 300ms`) ||
				!strings.Contains(ex, `last bytes received: "OK `) {
				t.Fatalf("errors %v, example %q", s.Errors, ex)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the step's 300ms timeout took %v to fire (--login-timeout is 20s)", took)
			}
		})
	}
}

// relayServer logs a connection in on "HELLO <uid>" ("OK"), and relays
// "MSG <to> <body>": "ACK" to the sender, "DLV <body>" to uid to's
// connection, twice for every third message. It counts the messages it
// relayed and the extra copies.
type relayServer struct {
	addr            string
	relayed, copies atomic.Int64
	mu              sync.Mutex
	byUID           map[string]net.Conn
}

func startRelayServer(t *testing.T) *relayServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &relayServer{addr: ln.Addr().String(), byUID: map[string]net.Conn{}}
	acceptAll(t, ln, s.serve)
	return s
}

func (s *relayServer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		switch {
		case len(f) == 2 && f[0] == "HELLO":
			s.mu.Lock()
			s.byUID[f[1]] = c
			s.mu.Unlock()
			fmt.Fprintf(c, "OK\n")
		case len(f) == 3 && f[0] == "MSG":
			s.mu.Lock()
			to := s.byUID[f[1]]
			n := s.relayed.Add(1)
			if to != nil {
				fmt.Fprintf(to, "DLV %s\n", f[2])
				if n%3 == 0 {
					s.copies.Add(1)
					fmt.Fprintf(to, "DLV %s\n", f[2])
				}
			}
			s.mu.Unlock()
			fmt.Fprintf(c, "ACK\n")
		}
	}
}

const relayScenario = `
framing: line
open:
  - send: "HELLO {uid}\n"
    expect: {equals: "OK"}
message:
  send: "MSG {peer} m={mid} t={ts}\n"
  ack: {equals: "ACK"}
  deliver:
    prefix: "DLV "
    capture: {mid: {after: "m="}, ts: {after: "t="}}
`

// A delivery that carries its message's {mid} is counted once: the copies
// the server sent again are duplicates, on both engines; every message
// acknowledged is a delivery expected, none lost.
func TestScenarioDuplicates(t *testing.T) {
	for _, engine := range []string{EngineEpoll, EnginePortable} {
		t.Run(engine, func(t *testing.T) {
			srv := startRelayServer(t)
			const n = 20
			sw, errc := startSwarm(t, Options{Targets: []string{srv.addr}, Conns: n, Procs: 1, Engine: engine, Hold: time.Second,
				MsgRate: 200, Scenario: &ScenarioFile{Name: "relay.yaml", Source: []byte(relayScenario)}})
			waitRun(t, errc, 30*time.Second)
			s := sw.Snapshot()
			if s.Sent == 0 || s.Acked != s.Sent || s.Expected != s.Acked {
				t.Fatalf("sent %d, acked %d, expected %d", s.Sent, s.Acked, s.Expected)
			}
			if s.Delivered != srv.relayed.Load() || s.Delivered != s.Expected || s.Duplicated != srv.copies.Load() || s.Duplicated == 0 {
				t.Errorf("delivered %d, duplicated %d; the server relayed %d messages and sent %d copies again",
					s.Delivered, s.Duplicated, srv.relayed.Load(), srv.copies.Load())
			}
			if s.Latency[stats.LatDeliver].Count != s.Delivered {
				t.Errorf("%d deliveries timed, %d delivered", s.Latency[stats.LatDeliver].Count, s.Delivered)
			}
		})
	}
}

// The window of {mid}s tells a duplicate from a new message within
// midWindowBits of the sender's highest, and takes older ones as new.
func TestMIDWindow(t *testing.T) {
	var w midWindow
	for _, tc := range []struct {
		seq  uint64
		want bool
	}{{5, true}, {5, false}, {3, true}, {3, false}, {9000, true}, {5, true}, {9000, false}, {8999, true}, {4905, true}, {4904, true}, {13095, true}, {9000, false}, {8999, true}} {
		if got := w.add(tc.seq); got != tc.want {
			t.Errorf("add(%d) = %v, want %v", tc.seq, got, tc.want)
		}
	}
}
