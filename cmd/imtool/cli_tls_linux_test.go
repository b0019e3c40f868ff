//go:build linux

package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient/agent"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// tlsHolder is a crypto/tls server on a loopback port that completes each
// handshake, counts it and holds the connection until the test ends.
func tlsHolder(t *testing.T) (addr string, handshakes *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	cert, _, err := agent.LoadOrCreateCert(filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	handshakes = new(atomic.Int64)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c.(*tls.Conn).Handshake() == nil {
					handshakes.Add(1)
				}
				_, _ = io.Copy(io.Discard, c) // hold until the client or the cleanup closes it
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), handshakes
}

// TLS runs on both engines, and --engine auto picks epoll for it: the run
// record names the engine that ran, no plan note says auto chose another,
// and the summary times every handshake on each. The server's own count of
// completed handshakes is the independent observer that TLS ran.
func TestSwarmTLSEngines(t *testing.T) {
	bin := rt.Binary(t)
	addr, handshakes := tlsHolder(t)
	const n = 20
	for i, c := range []struct{ flag, engine string }{{"auto", "epoll"}, {"epoll", "epoll"}, {"portable", "portable"}} {
		dir := t.TempDir()
		p := startProc(t, bin, "swarm", "--target", "tls://"+addr, "--tls-insecure", "--proto", "raw", "--conns", fmt.Sprint(n),
			"--procs", "1", "--hold", "1s", "--stats", "", "--tui=false", "--engine", c.flag, "--out", dir)
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("swarm --engine %s over TLS: exit %d, want 0\n%s", c.flag, code, p.out.String())
		}
		if got := handshakes.Load(); got != int64(n*(i+1)) {
			t.Fatalf("--engine %s: the server completed %d TLS handshakes in all, want %d", c.flag, got, n*(i+1))
		}
		rec, raw := readRecord(t, dir)
		opts, _ := raw["options"].(map[string]any)
		if opts["engine"] != c.engine || strings.Contains(fmt.Sprint(opts["plan_notes"]), "portable") || rec.Summary.Held != n ||
			rec.Summary.Latency[stats.LatTLS].Count != n || len(rec.Summary.Errors) != 0 {
			t.Errorf("--engine %s: run.json engine %v, plan_notes %v, held %d, TLS handshakes timed %d, errors %v: want %s, no note on engines, %d, %d, none",
				c.flag, opts["engine"], opts["plan_notes"], rec.Summary.Held, rec.Summary.Latency[stats.LatTLS].Count, rec.Summary.Errors, c.engine, n, n)
		}
	}
}

// TestMeasureTLSMemory reports the swarm's client memory per held TLS
// connection (the run record's client_bytes_per_conn: private memory growth
// over the connections held) on the epoll and the portable engine, N
// connections (IMTOOL_MEASURE_TLS_CONNS) of --proto raw held on a crypto/tls
// server in this process, one swarm process (N up to RLIMIT_NOFILE). It
// asserts nothing; without the variable it is skipped.
//
//	IMTOOL_MEASURE_TLS_CONNS=10000 go test -run TestMeasureTLSMemory -v ./cmd/imtool/
func TestMeasureTLSMemory(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("IMTOOL_MEASURE_TLS_CONNS"))
	if err != nil {
		t.Skip("set IMTOOL_MEASURE_TLS_CONNS to the connections to hold")
	}
	bin := rt.Binary(t)
	addr, _ := tlsHolder(t)
	for _, engine := range []string{"epoll", "portable"} {
		dir := t.TempDir()
		p := startProc(t, bin, "swarm", "--target", "tls://"+addr, "--tls-insecure", "--tls-groups", "x25519", "--proto", "raw",
			"--conns", fmt.Sprint(n), "--rate", "5000", "--procs", "1", "--hold", "5s", "--stats", "", "--tui=false", "--engine", engine, "--out", dir)
		if code := p.wait(t, 5*time.Minute); code != 0 {
			t.Fatalf("swarm --engine %s: exit %d\n%s", engine, code, p.out.String())
		}
		rec, _ := readRecord(t, dir)
		t.Logf("%-8s held %d: %.0f B per connection (RSS at end %.1f MiB), TLS handshake p50 %.1f ms, errors %v", engine, rec.Summary.Held,
			rec.Summary.ClientBytesPer, float64(rec.Summary.ClientRSSBytes)/(1<<20), rec.Summary.Latency[stats.LatTLS].P50*1e3, rec.Summary.Errors)
	}
}
