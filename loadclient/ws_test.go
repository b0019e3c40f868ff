package loadclient

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/ws"
	"github.com/imtool/imtool/internal/ws/wsecho"
	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// --proto ws against an echo server built on coder/websocket: the swarm
// holds what the server counts, every ping is answered and timed, every
// message comes back (reassembled from the server's fragments) and is
// timed, each connection's path and headers carry its own uid and index.
func TestWSEcho(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]string{}
			srv := wsecho.New(t, wsecho.Options{Fragment: 9, OnRequest: func(r *http.Request) {
				mu.Lock()
				seen[r.URL.Query().Get("u")] = r.Header.Get("Authorization")
				mu.Unlock()
			}})
			const n = 60
			sw, errc := startSwarm(t, Options{Targets: []string{"ws://" + srv.Addr + "/chat?u={uid}"}, Proto: ProtoWS, Conns: n,
				Headers: []string{"Authorization: Bearer {uid}-{i}"}, UIDBase: 500,
				Heartbeat: 100 * time.Millisecond, MsgRate: 200, Payload: 100, Hold: 1500 * time.Millisecond, Engine: eng, Procs: 1})
			waitFor(t, 10*time.Second, "all upgraded", func() bool { return sw.Snapshot().Held == n })
			if got := srv.Open.Load(); got != n {
				t.Fatalf("the server holds %d connections, the swarm %d", got, n)
			}
			waitRun(t, errc, 20*time.Second)
			s := sw.Snapshot()
			if len(s.Errors) != 0 || s.Dropped != 0 {
				t.Fatalf("errors %v (%v) dropped %d", s.Errors, s.ErrorExample, s.Dropped)
			}
			if s.Pings < n*10 || s.Pongs < s.Pings-2*n || s.Latency[stats.LatHeartbeat].Count != s.Pongs {
				t.Fatalf("pings %d pongs %d timed %d: want ≥ %d pings, all answered and timed but the last two a connection", s.Pings, s.Pongs, s.Latency[stats.LatHeartbeat].Count, n*10)
			}
			if s.Sent < 200 || s.Acked != s.Sent || srv.Msgs.Load() != s.Sent || s.Latency[stats.LatEcho].Count != s.Sent {
				t.Fatalf("sent %d, echoed %d (server: %d), timed %d: every message must come back and be timed", s.Sent, s.Acked, srv.Msgs.Load(), s.Latency[stats.LatEcho].Count)
			}
			if srv.Bytes.Load() != 100*s.Sent {
				t.Fatalf("the server echoed %d bytes for %d messages of 100", srv.Bytes.Load(), s.Sent)
			}
			if got := s.Latency[stats.LatUpgrade].Count; got != n {
				t.Fatalf("%d upgrades timed, want %d", got, n)
			}
			mu.Lock()
			defer mu.Unlock()
			for i := 0; i < n; i++ {
				uid := strconv.Itoa(500 + i)
				if seen[uid] != "Bearer "+uid+"-"+strconv.Itoa(i) {
					t.Fatalf("connection %d: path uid %s, header %q", i, uid, seen[uid])
				}
			}
		})
	}
}

// A server that refuses the upgrade with 401, or closes with 1008 right
// after it, is counted in that class, with the status or code in the example.
func TestWSRefusedAndClosed(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			const n = 20
			refuse := wsecho.New(t, wsecho.Options{Refuse: http.StatusUnauthorized})
			sw, errc := startSwarm(t, Options{Targets: []string{"ws://" + refuse.Addr + "/"}, Proto: ProtoWS, Conns: n,
				Hold: time.Millisecond, Engine: eng, Procs: 1})
			waitRun(t, errc, 10*time.Second)
			s := sw.Snapshot()
			if s.Errors[ws.ClassUpgrade401] != n || s.Held != 0 || !strings.Contains(s.ErrorExample[ws.ClassUpgrade401], "HTTP 401") {
				t.Fatalf("errors %v, example %q: want %d %s naming HTTP 401", s.Errors, s.ErrorExample[ws.ClassUpgrade401], n, ws.ClassUpgrade401)
			}

			closer := wsecho.New(t, wsecho.Options{CloseCode: websocket.StatusPolicyViolation})
			sw, errc = startSwarm(t, Options{Targets: []string{"ws://" + closer.Addr + "/"}, Proto: ProtoWS, Conns: n,
				Hold: 500 * time.Millisecond, Engine: eng, Procs: 1})
			waitRun(t, errc, 10*time.Second)
			s = sw.Snapshot()
			if s.Errors[ws.ClassClosePolicy] != n || s.Dropped != n || !strings.Contains(s.ErrorExample[ws.ClassClosePolicy], "1008 policy violation") {
				t.Fatalf("errors %v dropped %d example %q: want %d %s", s.Errors, s.Dropped, s.ErrorExample[ws.ClassClosePolicy], n, ws.ClassClosePolicy)
			}
		})
	}
}

// --proto ws+imtool against the reference gateway's --ws-ports: logins,
// heartbeats and SEND → ACK → DELIVER over WebSocket, the gateway's own
// count of sessions equal to the swarm's.
func TestWSIMToolGateway(t *testing.T) {
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			g := rt.NewGateway(t, refserver.Options{WSPorts: []uint16{0, 0}}, 0)
			var targets []string
			for _, a := range g.Addrs {
				targets = append(targets, "ws://"+a+"/")
			}
			const n = 100
			sw, errc := startSwarm(t, Options{Targets: targets, Proto: ProtoWSIMTool, Conns: n, Heartbeat: 100 * time.Millisecond,
				MsgRate: 300, Hold: 1500 * time.Millisecond, Engine: eng, Procs: 1})
			waitFor(t, 10*time.Second, "all logged in", func() bool { return sw.Snapshot().Held == n })
			if got := g.Snapshot().Sessions; got != n {
				t.Fatalf("gateway sessions %d, swarm held %d", got, n)
			}
			waitRun(t, errc, 20*time.Second)
			s := sw.Snapshot()
			if len(s.Errors) != 0 || s.Dropped != 0 {
				t.Fatalf("errors %v (%v) dropped %d", s.Errors, s.ErrorExample, s.Dropped)
			}
			if s.Pongs < s.Pings-2*n || s.Pings < n*10 {
				t.Fatalf("pings %d pongs %d", s.Pings, s.Pongs)
			}
			if s.Sent < 300 || s.Acked != s.Sent || s.Delivered != s.Acks["delivered"] || s.Delivered == 0 {
				t.Fatalf("sent %d acked %d delivered %d acks %v", s.Sent, s.Acked, s.Delivered, s.Acks)
			}
			if s.Latency[stats.LatUpgrade].Count != n || s.Latency[stats.LatLogin].Count != n {
				t.Fatalf("upgrades timed %d, logins timed %d, want %d each", s.Latency[stats.LatUpgrade].Count, s.Latency[stats.LatLogin].Count, n)
			}
		})
	}
}
