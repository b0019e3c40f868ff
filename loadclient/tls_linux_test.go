//go:build linux

package loadclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// pki is a CA and certificates made for one test, as PEM files in dir.
type pki struct {
	dir                              string
	ca, serverCert, serverKey        string
	clientCert, clientKey, rogueCert string
	rogueKey                         string
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue makes a key and a certificate from tmpl, signed by parent (self-signed when nil).
func issue(t testing.TB, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	kder, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", kder)
	return cert, key
}

func newPKI(t testing.TB) *pki {
	dir := t.TempDir()
	now := time.Now()
	ca, caKey := issue(t, dir, "ca", &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imtool test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	issue(t, dir, "server", &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gw.test"},
		DNSNames: []string{"gw.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	issue(t, dir, "client", &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "swarm"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	rogue, rogueKey := issue(t, dir, "rogueca", &x509.Certificate{SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "rogue CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	issue(t, dir, "rogue", &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "rogue client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, rogue, rogueKey)
	p := func(n string) string { return filepath.Join(dir, n) }
	return &pki{dir: dir, ca: p("ca.pem"), serverCert: p("server.pem"), serverKey: p("server.key"),
		clientCert: p("client.pem"), clientKey: p("client.key"), rogueCert: p("rogue.pem"), rogueKey: p("rogue.key")}
}

// The imtool protocol and ws+imtool through nginx terminating TLS in front
// of the reference gateway, on each engine: held equals the gateway's
// sessions, every handshake is timed, a client certificate opens the
// mutual-TLS port and its absence, a rogue one, an unknown CA or the wrong
// name are classified.
func TestTLSThroughNginx(t *testing.T) {
	k := newPKI(t)
	g := rt.NewGateway(t, refserver.Options{WSPorts: []uint16{0}}, 1)
	open, mutual := nginxStream(t, k, g.Addrs[0])
	openWS, _ := nginxStream(t, k, g.Addrs[1])
	for _, engine := range []string{EngineEpoll, EnginePortable} {
		t.Run(engine, func(t *testing.T) { testTLSThroughNginx(t, k, g, engine, open, mutual, openWS) })
	}
}

func testTLSThroughNginx(t *testing.T, k *pki, g *rt.Gateway, engine, open, mutual, openWS string) {
	const n = 100
	run := func(t *testing.T, o Options) stats.Snapshot {
		t.Helper()
		o.Conns, o.Procs, o.Hold, o.Engine = n, 1, 800*time.Millisecond, engine
		sw, errc := startSwarm(t, o)
		waitRun(t, errc, 30*time.Second)
		return sw.Snapshot()
	}
	clean := func(t *testing.T, s stats.Snapshot) {
		t.Helper()
		if s.Established != n || s.Latency[stats.LatLogin].Count != n || len(s.Errors) != 0 || s.Dropped != 0 {
			t.Fatalf("established %d logged in %d errors %v (%v) dropped %d: want %d logged in, no error",
				s.Established, s.Latency[stats.LatLogin].Count, s.Errors, s.ErrorExample, s.Dropped, n)
		}
		if got := s.Latency[stats.LatTLS].Count + s.Latency[stats.LatTLSResumed].Count; got != n {
			t.Fatalf("%d TLS handshakes timed, want %d", got, n)
		}
	}
	t.Run("imtool", func(t *testing.T) {
		s := run(t, Options{Targets: []string{"tls://" + open}, TLS: TLSOptions{CAFile: k.ca}, Heartbeat: 200 * time.Millisecond, MsgRate: 200})
		clean(t, s)
		// At the close, up to two PINGs a connection may still be on their
		// way (under -race on a loaded host a round trip passes 200ms).
		if s.Pongs < s.Pings-2*n || s.Pings < n*3 || s.Latency[stats.LatHeartbeat].Count != s.Pongs || s.Acked != s.Sent || s.Sent == 0 {
			t.Fatalf("pings %d pongs %d (timed %d) sent %d acked %d", s.Pings, s.Pongs, s.Latency[stats.LatHeartbeat].Count, s.Sent, s.Acked)
		}
		if s.Latency[stats.LatTLSResumed].Count != 0 {
			t.Fatalf("%d sessions resumed without --tls-resume", s.Latency[stats.LatTLSResumed].Count)
		}
		rt.Eventually(t, 10*time.Second, "the gateway's sessions to end", func() bool { return g.Snapshot().Sessions == 0 })
	})
	t.Run("sessions", func(t *testing.T) {
		o := Options{Targets: []string{"tls://" + open}, TLS: TLSOptions{CAFile: k.ca}, Hold: time.Hour, Conns: n, Procs: 1, Engine: engine}
		sw, _ := startSwarm(t, o)
		waitFor(t, 20*time.Second, "all held", func() bool { return sw.Snapshot().Held == n })
		if got := g.Snapshot().Sessions; got != n {
			t.Fatalf("the gateway behind nginx has %d sessions, the swarm holds %d", got, n)
		}
		_, epoll := sw.eng.(*epollEngine)
		if EngineFor(o) != engine || epoll != (engine == EngineEpoll) {
			t.Fatalf("engine %T for --engine %s", sw.eng, engine)
		}
		if auto := (Options{Targets: o.Targets, Engine: EngineAuto}); EngineFor(auto) != EngineEpoll {
			t.Fatalf("--engine auto with TLS picks %s, want epoll", EngineFor(auto))
		}
	})
	t.Run("resume", func(t *testing.T) {
		s := run(t, Options{Targets: []string{"tls://" + open}, TLS: TLSOptions{CAFile: k.ca, Resume: true}, Rate: 200})
		clean(t, s)
		if s.Latency[stats.LatTLSResumed].Count == 0 {
			t.Fatalf("no session resumed with --tls-resume (full handshakes %d)", s.Latency[stats.LatTLS].Count)
		}
	})
	t.Run("ws+imtool", func(t *testing.T) {
		s := run(t, Options{Targets: []string{"wss://" + openWS + "/"}, Proto: ProtoWSIMTool, TLS: TLSOptions{CAFile: k.ca, ServerName: "gw.test"},
			Heartbeat: 100 * time.Millisecond})
		clean(t, s)
		if s.Latency[stats.LatUpgrade].Count != n || s.Pongs == 0 {
			t.Fatalf("upgrades %d pongs %d", s.Latency[stats.LatUpgrade].Count, s.Pongs)
		}
	})
	// The imtool protocol from its scenario file, over TLS (a tcp scenario
	// at a tls:// target) and in binary WebSocket messages over TLS.
	scenarioRun := func(t *testing.T, target string, edit func(string) string) {
		t.Helper()
		src, err := os.ReadFile(filepath.Join("..", "examples", "protocols", "imtool.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		s := run(t, Options{Targets: []string{target}, Scenario: &ScenarioFile{Name: "imtool.yaml", Source: []byte(edit(string(src)))},
			TLS: TLSOptions{CAFile: k.ca, ServerName: "gw.test"}, Heartbeat: 100 * time.Millisecond, MsgRate: 200})
		clean(t, s)
		if s.Pongs == 0 || s.Sent == 0 || s.Acked != s.Sent || s.Delivered != s.Sent {
			t.Fatalf("pongs %d sent %d acked %d delivered %d", s.Pongs, s.Sent, s.Acked, s.Delivered)
		}
	}
	t.Run("scenario over tls", func(t *testing.T) {
		scenarioRun(t, "tls://"+open, func(s string) string { return s })
	})
	t.Run("scenario over wss", func(t *testing.T) {
		scenarioRun(t, "wss://"+openWS+"/", func(s string) string {
			return strings.Replace(s, "transport: tcp", "transport: ws\nws: {binary: true, subprotocol: imtool}", 1)
		})
	})
	t.Run("insecure, TLS 1.3 floor", func(t *testing.T) {
		clean(t, run(t, Options{Targets: []string{"tls://" + open}, TLS: TLSOptions{Insecure: true, MinVersion: "1.3"}}))
	})
	t.Run("client certificate", func(t *testing.T) {
		clean(t, run(t, Options{Targets: []string{"tls://" + mutual}, TLS: TLSOptions{CAFile: k.ca, CertFile: k.clientCert, KeyFile: k.clientKey}}))
	})
	refused := func(t *testing.T, o Options, class string) {
		t.Helper()
		s := run(t, o)
		if s.Errors[class] != n || s.Latency[stats.LatLogin].Count != 0 {
			t.Fatalf("errors %v (%v) held %d: want %d %s", s.Errors, s.ErrorExample, s.Held, n, class)
		}
		if ex := s.ErrorExample[class]; !strings.Contains(ex, "TLS") && !strings.Contains(ex, "x509") {
			t.Fatalf("example %q does not say what TLS said", ex)
		}
	}
	t.Run("no client certificate", func(t *testing.T) {
		refused(t, Options{Targets: []string{"tls://" + mutual}, TLS: TLSOptions{CAFile: k.ca}}, stats.ErrTLSCertRefused)
	})
	t.Run("rogue client certificate", func(t *testing.T) {
		refused(t, Options{Targets: []string{"tls://" + mutual}, TLS: TLSOptions{CAFile: k.ca, CertFile: k.rogueCert, KeyFile: k.rogueKey}}, stats.ErrTLSCertRefused)
	})
	t.Run("unknown CA", func(t *testing.T) {
		refused(t, Options{Targets: []string{"tls://" + open}, TLS: TLSOptions{}}, stats.ErrTLSUnknownCA)
	})
	t.Run("wrong name", func(t *testing.T) {
		refused(t, Options{Targets: []string{"tls://" + open}, TLS: TLSOptions{CAFile: k.ca, ServerName: "other.test"}}, stats.ErrTLSBadCert)
	})
}

// Bad TLS options are refused before anything is dialed, with the flag to fix.
func TestTLSOptionsRefused(t *testing.T) {
	k := newPKI(t)
	for _, c := range []struct {
		o    TLSOptions
		want string
	}{
		{TLSOptions{On: true, MinVersion: "1.4"}, "--tls-min-version"},
		{TLSOptions{On: true, CertFile: k.clientCert}, "--tls-cert and --tls-key go together"},
		{TLSOptions{On: true, CAFile: k.dir + "/missing.pem"}, "--tls-ca"},
		{TLSOptions{On: true, CAFile: k.clientKey}, "no PEM certificate"},
		{TLSOptions{On: true, CertFile: k.clientCert, KeyFile: k.serverKey}, "--tls-cert/--tls-key"},
	} {
		_, err := New(Options{Targets: []string{"127.0.0.1:9"}, Conns: 1, Procs: 1, TLS: c.o})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %q", c.o, err, c.want)
		}
	}
}

// The ramp is not over while a connection the portable engine launched has
// yet to run: on one P (a saturated host's lot) the engine's goroutines may
// run only after the watcher that decides the ramp's end, so each must
// count as connecting from its launch. Against a TLS server that takes
// 200 ms to answer each handshake, the hold begins with all n held.
func TestPortableRampWaitsForLaunchedConns(t *testing.T) {
	k := newPKI(t)
	cert, err := tls.LoadX509KeyPair(k.serverCert, k.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { time.Sleep(200 * time.Millisecond); return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); defer c.Close(); _, _ = io.Copy(io.Discard, c) }() // held until the swarm closes it
		}
	}()
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	const n = 20
	sw, _ := startSwarm(t, Options{Targets: []string{"tls://" + ln.Addr().String()}, TLS: TLSOptions{CAFile: k.ca}, Proto: ProtoRaw, Engine: EnginePortable,
		Conns: n, Rate: 1e9, MaxInflight: 2 * n, Hold: time.Hour, Procs: 1})
	waitFor(t, 20*time.Second, "the hold", func() bool { return sw.Phase() == stats.PhaseHold })
	if s := sw.Snapshot(); s.Held != n {
		t.Fatalf("the hold began with %d of %d held (established %d, errors %v): the ramp ended before every connection had settled", s.Held, n, s.Established, s.Errors)
	}
}

// --tls-resume resumes across a gateway's ports although each refuses the
// others' tickets (nginx's server blocks each have ticket keys of their
// own), on each engine: a session is offered only to the destination that
// issued it, so all but the first handshakes to each port resume.
func TestTLSResumeAcrossPorts(t *testing.T) {
	k := newPKI(t)
	g := rt.NewGateway(t, refserver.Options{}, 1)
	addrs, _ := startNginx(t, k, 1, nginxRoute{ports: 2, backends: []string{g.Addrs[0]}})
	for _, engine := range []string{EngineEpoll, EnginePortable} {
		t.Run(engine, func(t *testing.T) {
			const n = 200
			sw, errc := startSwarm(t, Options{Targets: []string{"tls://" + addrs[0][0], "tls://" + addrs[0][1]}, TLS: TLSOptions{CAFile: k.ca, Resume: true},
				Conns: n, Procs: 1, Rate: 400, MaxInflight: 4, Hold: 200 * time.Millisecond, Engine: engine})
			waitRun(t, errc, 30*time.Second)
			s := sw.Snapshot()
			full, resumed := s.Latency[stats.LatTLS].Count, s.Latency[stats.LatTLSResumed].Count
			if full+resumed != n || len(s.Errors) != 0 || full > 10 {
				t.Fatalf("%d full and %d resumed handshakes of %d (errors %v): want all but the first few to each port resumed", full, resumed, n, s.Errors)
			}
		})
	}
}
