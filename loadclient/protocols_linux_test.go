//go:build linux

package loadclient

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// protocolCase is one protocol of the cost table (docs/PROTOCOL-COST.md).
type protocolCase struct {
	name  string
	proto string
	tls   bool     // through nginx terminating TLS in front of the gateway
	flags []string // more swarm flags
}

var protocolCases = []protocolCase{
	{"raw", ProtoRaw, false, nil}, {"imtool", ProtoIMTool, false, nil}, {"ws", ProtoWS, false, nil}, {"ws+imtool", ProtoWSIMTool, false, nil},
	{"tls+raw", ProtoRaw, true, nil}, {"tls+imtool", ProtoIMTool, true, nil}, {"wss", ProtoWS, true, nil}, {"wss+imtool", ProtoWSIMTool, true, nil},
	// Every connection after the first ticket resumes its session.
	{"tls+imtool+resume", ProtoIMTool, true, []string{"--tls-resume"}},
}

// BenchmarkProtocols connects and holds b.N connections of each protocol
// with `imtool swarm --procs auto` (the engine --engine auto picks: epoll,
// or portable for TLS) against `imtool server --procs auto` on plain and
// WebSocket ports, with nginx (stream module, nginxWorkers workers, one
// port per nginxPerPort connections, reuseport) terminating TLS in front of it
// for the TLS protocols. One op is one connection; the metrics are the
// swarm's connect rate (its summary), private memory growth per held
// connection of the swarm (its summary), of the gateway (its /stats) and
// of nginx's workers (/proc), and the drop of the host's MemAvailable (the
// swarm's summary). raw and ws hold without logging in: the gateway is
// given a 10-minute login timeout. Every run must hold all b.N, and the
// gateway must count b.N connections during the hold. Run it with a fixed
// count (without one, as in a plain -bench ., it is skipped), alone on the
// machine:
//
//	go test -run XXX -bench Protocols -benchtime 20000x -timeout 60m ./loadclient/
//	go test -run XXX -bench 'Protocols/tls\+imtool$' -benchtime 100000x -timeout 60m ./loadclient/
func BenchmarkProtocols(b *testing.B) {
	if bt := flag.Lookup("test.benchtime"); bt == nil || !strings.HasSuffix(bt.Value.String(), "x") {
		b.Skip("give the connections per protocol as -benchtime 20000x (a run takes seconds to minutes, starts nginx and the gateway: it is left out of a plain -bench .)")
	}
	bin := rt.Binary(b)
	for _, pc := range protocolCases {
		b.Run(pc.name, func(b *testing.B) { benchProtocol(b, bin, pc) })
	}
}

// Swarm pacing for BenchmarkProtocols: the connect rate is what the
// protocol and the machine allow, within this window of connections
// connecting (and handshaking) at once.
const (
	protoBenchRate = 200000
	// The swarm's default window without TLS; with TLS a smaller one, as
	// more handshakes at once only wait longer for the CPU.
	protoBenchInflight    = DefaultMaxInflight
	protoBenchInflightTLS = 1000
	protoBenchHold        = 5 * time.Second
)

func benchProtocol(b *testing.B, bin string, pc protocolCase) {
	n := b.N
	// Loopback ports: one destination holds about 28,000 connections from
	// one source address (nginx dials the gateway from 127.0.0.1 only).
	gwPorts := n/20000 + 2
	_, plain := rt.FreePorts(b, gwPorts)
	_, wsList := rt.FreePorts(b, gwPorts)
	statsURL := fmt.Sprintf("http://127.0.0.1:%d/stats", rt.FreePort(b))
	gw := rt.Start(b, bin, "server", "--listen", "127.0.0.1", "--ports", plain, "--ws-ports", wsList, "--procs", "auto",
		"--max-conns", strconv.Itoa(n+1000), "--stats", strings.TrimSuffix(strings.TrimPrefix(statsURL, "http://"), "/stats"),
		"--login-timeout", "10m", "--idle-timeout", "10m")
	b.Cleanup(func() { gw.Signal(syscall.SIGTERM); gw.Wait(30 * time.Second) }) // before rt's SIGKILL: the shards stop too
	gw0 := rt.WaitStats(b, statsURL, 30*time.Second, "the gateway's /stats", func(s stats.Snapshot) bool { return s.Processes > 0 })

	backends := strings.Split(plain, ",")
	scheme := ""
	if isWS(pc.proto) {
		backends = strings.Split(wsList, ",")
		scheme = "ws://"
	}
	inflight := protoBenchInflight
	var tlsArgs []string
	nginxMaster := 0
	if pc.tls {
		k := newPKI(b)
		for i := range backends {
			backends[i] = "127.0.0.1:" + backends[i]
		}
		var addrs [][]string
		addrs, nginxMaster = startNginx(b, k, nginxWorkers(n), nginxRoute{ports: n/nginxPerPort + 1, backends: backends})
		backends = backends[:0]
		for _, a := range addrs[0] {
			backends = append(backends, strings.TrimPrefix(a, "127.0.0.1:"))
		}
		scheme = "tls://"
		if isWS(pc.proto) {
			scheme = "wss://"
		}
		tlsArgs = []string{"--tls-ca", k.ca}
		inflight = protoBenchInflightTLS
	}
	target := scheme + "127.0.0.1:" + strings.Join(backends, ",")
	if isWS(pc.proto) {
		target += "/"
	}
	nginx0 := childrenPrivate(nginxMaster)
	dir := b.TempDir()
	swarmStats := fmt.Sprintf("127.0.0.1:%d", rt.FreePort(b))
	args := append([]string{"swarm", "--target", target, "--proto", pc.proto, "--conns", strconv.Itoa(n), "--procs", "auto",
		"--rate", strconv.Itoa(protoBenchRate), "--max-inflight", strconv.Itoa(inflight), "--hold", protoBenchHold.String(),
		"--heartbeat", "30s", "--connect-timeout", "20s", "--login-timeout", "60s", "--stats", swarmStats, "--tui=false", "--out", dir}, append(tlsArgs, pc.flags...)...)
	b.ResetTimer()
	sw := rt.Start(b, bin, args...)
	deadline := time.Now().Add(time.Duration(n)*5*time.Millisecond + time.Minute)
	for {
		s, err := rt.GetStats("http://" + swarmStats + "/stats")
		if err == nil && (s.Phase == stats.PhaseHold || s.Phase == stats.PhaseClose || s.Phase == stats.PhaseDone) {
			break
		}
		if _, ended := sw.Wait(0); ended || time.Now().After(deadline) {
			b.Fatalf("the swarm did not reach its hold (ended %v):\n%s", ended, sw.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	time.Sleep(2 * time.Second) // the hold's steady state
	gw1, err := rt.GetStats(statsURL)
	if err != nil {
		b.Fatal(err)
	}
	nginx1 := childrenPrivate(nginxMaster)
	if err, ended := sw.Wait(protoBenchHold + time.Minute); !ended || err != nil {
		b.Fatalf("swarm: %v (ended %v):\n%s", err, ended, sw.Output())
	}
	rec := readRecord(b, dir)
	s := rec.Summary
	if s.Held != int64(n) || gw1.Connections != int64(n) {
		b.Fatalf("the swarm held %d, the gateway counted %d connections during the hold: want %d (errors %v)", s.Held, gw1.Connections, n, s.Errors)
	}
	out := sw.Output()
	if i := strings.Index(out, "imtool swarm:"); i >= 0 {
		b.Logf("gateway: %d connections, %d sessions during the hold\n%s", gw1.Connections, gw1.Sessions, out[i:])
	}
	b.ReportMetric(s.ConnectRateMean, "conn/s")
	b.ReportMetric(s.ClientBytesPer, "client-B/conn")
	b.ReportMetric(float64(gw1.UserBytes()-gw0.UserBytes())/float64(n), "gateway-B/conn")
	if pc.tls {
		b.ReportMetric(float64(nginx1-nginx0)/float64(n), "nginx-B/conn")
	}
	b.ReportMetric(s.HostBytesPer, "host-B/conn")
}

// childrenPrivate is the private memory (stats.PrivateBytesOf) of the
// children of pid: nginx's workers. 0 for pid 0.
func childrenPrivate(pid int) int64 {
	if pid == 0 {
		return 0
	}
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var sum int64
	for _, k := range strings.Fields(string(kids)) {
		if kid, err := strconv.Atoi(k); err == nil {
			sum += stats.PrivateBytesOf(kid)
		}
	}
	return sum
}
