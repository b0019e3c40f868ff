package stats

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// statsServer serves a snapshot on /stats like every imtool process does.
func statsServer(t *testing.T, addr string, snap Snapshot) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(Handler(func() Snapshot { return snap }))
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("cannot listen again on %s: %v", addr, err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func fixedHost() Host { return Host{MemAvailable: 1 << 30, TCPInUse: 7} }

func TestPollerDownAndBack(t *testing.T) {
	gw := statsServer(t, "", Snapshot{Kind: KindGateway, Connections: 1200, Sessions: 1100})
	addr := gw.Listener.Addr().String()
	p, err := NewPoller(PollOptions{Server: gw.URL, Host: fixedHost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	s := p.Poll(ctx)
	if s.Server == nil || s.Server.Down || s.Server.Connections != 1200 || s.Host.TCPInUse != 7 {
		t.Fatalf("up: %+v", s.Server)
	}

	gw.Close()
	s = p.Poll(ctx)
	if !s.Server.Down || s.Server.Connections != 1200 || s.Server.Sessions != 1100 {
		t.Fatalf("after close: down=%v conns=%d, want down with the last numbers", s.Server.Down, s.Server.Connections)
	}

	statsServer(t, addr, Snapshot{Kind: KindGateway, Connections: 1300})
	s = p.Poll(ctx)
	if s.Server.Down || s.Server.Connections != 1300 {
		t.Fatalf("after restart: down=%v conns=%d, want up with the new numbers", s.Server.Down, s.Server.Connections)
	}
}

// Several swarms merge into one; one that never answered is down, and the
// merged swarm is down only when all are.
func TestPollerSwarms(t *testing.T) {
	a := statsServer(t, "", Snapshot{Kind: KindSwarm, ID: "a", Phase: PhaseHold, Established: 10, Held: 10, UptimeS: 42})
	b := statsServer(t, "", Snapshot{Kind: KindSwarm, ID: "b", Phase: PhaseRamp, Established: 5, Held: 5, UptimeS: 41})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p, err := NewPoller(PollOptions{Swarms: []string{a.URL, b.URL, dead.URL}, Dispatcher: dead.Listener.Addr().String(), Host: fixedHost})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Poll(context.Background())
	sw := s.Swarm
	if sw.Down || sw.Established != 15 || sw.Phase != PhaseRamp || len(sw.Shards) != 3 || !sw.Shards[2].Down {
		t.Fatalf("merged swarm: %+v", sw)
	}
	if s.T != 42 {
		t.Errorf("elapsed %v, want the swarm's uptime", s.T)
	}
	if s.Dispatcher == nil || !s.Dispatcher.Down {
		t.Errorf("a dispatcher that never answered must show down: %+v", s.Dispatcher)
	}
}

func TestPollerURLs(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:9100":    "http://127.0.0.1:9100/stats",
		"127.0.0.1:9100":           "http://127.0.0.1:9100/stats",
		"http://h:1/":              "http://h:1/stats",
		"https://h:1/imtool/stats": "https://h:1/imtool/stats",
		"ftp://h:1":                "",
		"http://":                  "",
	} {
		got, err := statsURL(raw)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("statsURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	if _, err := NewPoller(PollOptions{}); err == nil {
		t.Error("a poller with nothing to watch must fail")
	}
}

// Run polls until its context ends and feeds every sample to the sink.
func TestPollerRun(t *testing.T) {
	gw := statsServer(t, "", Snapshot{Kind: KindGateway, Connections: 3})
	p, err := NewPoller(PollOptions{Server: gw.URL, Host: fixedHost, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &countSink{stop: cancel, after: 3}
	p.Run(ctx, sink)
	if n := sink.n.Load(); n < 3 {
		t.Fatalf("%d samples, want at least 3", n)
	}
}

type countSink struct {
	n     atomic.Int32
	after int32
	stop  func()
}

func (c *countSink) Update(s Sample) {
	if s.Server != nil && c.n.Add(1) >= c.after {
		c.stop()
	}
}
func (c *countSink) Close() error { return nil }
