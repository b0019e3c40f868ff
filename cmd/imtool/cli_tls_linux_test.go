//go:build linux

package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
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

// When TLS makes --engine auto run the portable engine, every form of the
// summary says which engine ran and why: the end-of-run text, the run
// record (options.engine, plan_notes), `imtool report` as text, Markdown,
// HTML and JSON. Chosen by hand (--engine portable), the record names the
// engine and no summary claims auto chose it. The server's own count of
// completed handshakes is the independent observer that TLS ran.
func TestSwarmTLSSummaryNamesTheEngine(t *testing.T) {
	bin := rt.Binary(t)
	addr, handshakes := tlsHolder(t)
	const n = 20
	const why = "TLS runs on the portable engine (goroutines): --engine auto chose it"
	dir := t.TempDir()
	p := startProc(t, bin, "swarm", "--target", "tls://"+addr, "--tls-insecure", "--proto", "raw", "--conns", fmt.Sprint(n),
		"--procs", "1", "--hold", "1s", "--stats", "", "--tui=false", "--out", dir)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("swarm over TLS: exit %d, want 0", code)
	}
	if got := handshakes.Load(); got != n {
		t.Fatalf("the server completed %d TLS handshakes, want %d", got, n)
	}
	out := p.out.String()
	if !strings.Contains(out, "note: "+why) || !strings.Contains(out, "  engine         "+why) {
		t.Errorf("the swarm's plan note and end-of-run summary do not say %q on an engine line:\n%s", why, out)
	}
	rec, raw := readRecord(t, dir)
	opts, _ := raw["options"].(map[string]any)
	if opts["engine"] != "portable" || !strings.Contains(fmt.Sprint(opts["plan_notes"]), why) || rec.Summary.Held != n {
		t.Errorf("run.json options engine %v, plan_notes %v, held %d: want portable, the note, %d", opts["engine"], opts["plan_notes"], rec.Summary.Held, n)
	}
	for _, format := range []string{"text", "md", "html", "json"} {
		code, report, errOut := imtoolRun(t, "report", "--format", format, dir)
		if code != 0 || !strings.Contains(report, why) {
			t.Errorf("imtool report --format %s (exit %d, %s) does not say %q:\n%s", format, code, errOut, why, report)
		}
		if format != "json" && !strings.Contains(report, "engine") {
			t.Errorf("imtool report --format %s has no engine row:\n%s", format, report)
		}
	}

	// --engine portable chosen by hand, and --json: stdout is the record,
	// which names the engine and does not say auto chose it.
	cmd := exec.Command(bin, "swarm", "--target", "tls://"+addr, "--tls-insecure", "--proto", "raw", "--conns", fmt.Sprint(n),
		"--procs", "1", "--hold", "1s", "--stats", "", "--tui=false", "--engine", "portable", "--json")
	var stdout strings.Builder
	stderr := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("swarm --engine portable --json: %v\n%s", err, stderr.String())
	}
	var doc stats.Record
	if err := json.Unmarshal([]byte(stdout.String()), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if doc.Options["engine"] != "portable" || strings.Contains(stdout.String(), "auto chose it") || strings.Contains(stderr.String(), "auto chose it") {
		t.Errorf("--engine portable by hand: engine %v; the output claims auto chose it:\n%s\n%s", doc.Options["engine"], stdout.String(), stderr.String())
	}
	if got := handshakes.Load(); got != 2*n {
		t.Errorf("the server completed %d TLS handshakes in both runs, want %d", got, 2*n)
	}
}
