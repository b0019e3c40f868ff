package scenariotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// NATSOptions configures StartNATS. A zero field leaves nats-server's own
// default in force.
type NATSOptions struct {
	// PingInterval is ping_interval: how often the server sends PING to a
	// client (server default 2m).
	PingInterval time.Duration
	// PingMax is ping_max: how many PINGs may be outstanding. The server
	// ends the connection with -ERR 'Stale Connection' at the first ping
	// tick that finds PingMax PINGs unanswered, so an idle client is cut
	// (PingMax+1)*PingInterval after its last PONG (server default 2).
	PingMax int
	// MaxConnections is max_connections: connections beyond it get INFO
	// then -ERR 'maximum connections exceeded' (server default 64K).
	MaxConnections int
}

// NATS is a nats-server started for a test.
type NATS struct {
	Addr        string // host:port of the client (NATS protocol) listener
	MonitorAddr string // host:port of the HTTP monitoring listener
	ConfigFile  string
	Proc        *rt.Proc
}

// NATSBinary is the path of nats-server, or "" when it is not installed.
func NATSBinary() string {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	return ""
}

// StartNATS starts nats-server (Debian's is 2.9.x) on loopback ports with
// a config file written in t.TempDir(), waits until both its client and
// monitoring listeners accept connections, and stops it when t ends.
func StartNATS(t testing.TB, o NATSOptions) *NATS {
	t.Helper()
	bin := NATSBinary()
	if bin == "" {
		Missing(t, "nats-server", "apt-get install nats-server")
		return nil
	}
	dir := t.TempDir()
	n := &NATS{Addr: Addr(rt.FreePort(t)), MonitorAddr: Addr(rt.FreePort(t))}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: %q\n", n.Addr)
	fmt.Fprintf(&cfg, "http: %q\n", n.MonitorAddr)
	if o.PingInterval > 0 {
		fmt.Fprintf(&cfg, "ping_interval: %q\n", o.PingInterval.String())
	}
	if o.PingMax > 0 {
		fmt.Fprintf(&cfg, "ping_max: %d\n", o.PingMax)
	}
	if o.MaxConnections > 0 {
		fmt.Fprintf(&cfg, "max_connections: %d\n", o.MaxConnections)
	}
	n.ConfigFile = filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(n.ConfigFile, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Proc = rt.Start(t, bin, "-c", n.ConfigFile)
	if !WaitTCP(n.Proc, n.Addr, 10*time.Second) || !WaitTCP(n.Proc, n.MonitorAddr, 5*time.Second) {
		t.Fatalf("nats-server did not start on %s (config:\n%s)\nlog:\n%s", n.Addr, cfg.String(), n.Proc.Output())
	}
	// WaitTCP's probe was a client connection; start from a count of 0
	// (and a free slot under max_connections).
	if got, err := n.WaitConnections(0, 5*time.Second); err != nil || got != 0 {
		t.Fatalf("nats-server still counts %d connections after start (%v)", got, err)
	}
	return n
}

// Varz is the monitoring endpoint's /varz document: the server's own
// figures, read at the moment of the request (connections,
// total_connections, in_msgs, out_msgs, in_bytes, out_bytes,
// slow_consumers, subscriptions, ping_interval, ping_max, ...).
func (n *NATS) Varz() (map[string]any, error) {
	var v map[string]any
	err := getJSON("http://"+n.MonitorAddr+"/varz", &v)
	return v, err
}

// varzInt is the integer field name of /varz.
func (n *NATS) varzInt(name string) (int64, error) {
	v, err := n.Varz()
	if err != nil {
		return 0, err
	}
	f, ok := v[name].(float64)
	if !ok {
		return 0, fmt.Errorf("nats /varz: no number %q", name)
	}
	return int64(f), nil
}

// Connections is the server's own count of open client connections
// (/varz "connections"), live at the moment of the request. It counts a
// TCP connection from accept on, before its CONNECT, until the server
// has closed it.
func (n *NATS) Connections() (int, error) {
	c, err := n.varzInt("connections")
	return int(c), err
}

// Msgs is the server's message counters (/varz in_msgs, out_msgs): in is
// every PUB/HPUB it received, out every MSG/HMSG it delivered.
func (n *NATS) Msgs() (in, out int64, err error) {
	v, err := n.Varz()
	if err != nil {
		return 0, 0, err
	}
	i, ok1 := v["in_msgs"].(float64)
	o, ok2 := v["out_msgs"].(float64)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("nats /varz: no in_msgs/out_msgs")
	}
	return int64(i), int64(o), nil
}

// WaitConnections polls Connections until it is want or timeout passes;
// it returns the last figure read.
func (n *NATS) WaitConnections(want int, timeout time.Duration) (int, error) {
	return pollFigure(n.Connections, want, timeout)
}

// pollFigure calls count every 50 ms until it returns want or timeout
// passes, and returns its last answer.
func pollFigure(count func() (int, error), want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := count()
		if (err == nil && got == want) || time.Now().After(deadline) {
			return got, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
