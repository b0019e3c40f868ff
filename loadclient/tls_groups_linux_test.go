//go:build linux

package loadclient

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// --tls-groups is what the client offers, on each engine: a crypto/tls
// server records each ClientHello's groups and the group each handshake
// used.
func TestTLSGroups(t *testing.T) {
	k := newPKI(t)
	cert, err := tls.LoadX509KeyPair(k.serverCert, k.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var offered [][]tls.CurveID
	var used []tls.CurveID
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		offered = append(offered, slices.Clone(hi.SupportedCurves))
		mu.Unlock()
		return nil, nil
	}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, ln, func(c net.Conn) {
		tc := c.(*tls.Conn)
		if tc.Handshake() == nil {
			mu.Lock()
			used = append(used, tc.ConnectionState().CurveID)
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, c)
	})
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(k.ca)
	pool.AppendCertsFromPEM(pem)
	for _, engine := range []string{EngineEpoll, EnginePortable} {
		for _, tc := range []struct {
			groups string
			offer  []tls.CurveID // the set offered (crypto/tls orders it itself)
			use    tls.CurveID   // 0: the server's choice among them
		}{
			{"x25519", []tls.CurveID{tls.X25519}, tls.X25519},
			{"p256,x25519", []tls.CurveID{tls.X25519, tls.CurveP256}, 0},
			{"p256", []tls.CurveID{tls.CurveP256}, tls.CurveP256},
			{"", nil, tls.X25519MLKEM768}, // Go's default: the hybrid first
		} {
			mu.Lock()
			offered, used = nil, nil
			mu.Unlock()
			const n = 10
			sw, errc := startSwarm(t, Options{Targets: []string{"tls://" + ln.Addr().String()}, Proto: ProtoRaw, Conns: n, Procs: 1, Engine: engine,
				Hold: 100 * time.Millisecond, TLS: TLSOptions{CAFile: k.ca, ServerName: "gw.test", Groups: tc.groups}})
			waitRun(t, errc, 30*time.Second)
			if s := sw.Snapshot(); len(s.Errors) != 0 || s.Established != n {
				t.Fatalf("%s engine, --tls-groups %q: established %d, errors %v %v", engine, tc.groups, s.Established, s.Errors, s.ErrorExample)
			}
			mu.Lock()
			for _, o := range offered {
				got := slices.Clone(o)
				slices.Sort(got)
				want := slices.Clone(tc.offer)
				slices.Sort(want)
				if tc.offer != nil && !slices.Equal(got, want) || tc.offer == nil && o[0] != tls.X25519MLKEM768 {
					t.Errorf("--tls-groups %q: the client offered %v", tc.groups, o)
				}
			}
			for _, u := range used {
				if tc.use != 0 && u != tc.use {
					t.Errorf("--tls-groups %q: the handshake used %v, want %v", tc.groups, u, tc.use)
				}
			}
			if len(offered) != n || len(used) != n {
				t.Errorf("--tls-groups %q: %d ClientHellos, %d handshakes for %d connections", tc.groups, len(offered), len(used), n)
			}
			mu.Unlock()
		}
	}
	if _, err := New(Options{Targets: []string{"tls://" + ln.Addr().String()}, Conns: 1, TLS: TLSOptions{Groups: "x25519,curve448"}}); err == nil ||
		!strings.Contains(err.Error(), `"curve448" is not a group`) {
		t.Errorf("an unknown group: %v", err)
	}
}
