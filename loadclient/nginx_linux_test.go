//go:build linux

package loadclient

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// nginxRoute is a set of loopback ports on which nginx terminates TLS and
// passes the stream on to backends (round robin). Give a port per
// nginxPerPort connections.
type nginxRoute struct {
	ports    int      // listening ports
	backends []string // HOST:PORT
	mutual   bool     // require a client certificate from the test CA
	ssl      string   // more directives for its servers (ssl_protocols, ssl_ciphers, …)
}

// nginxPerWorker is how many proxied connections one nginx worker is given
// at most: each holds two fds (client and upstream) and a worker may open
// RLIMIT_NOFILE (20,000 here, not raisable) of them, less its own.
const nginxPerWorker = 9000

// nginxPerPort is how many connections one listening port is given at most:
// they all reach the backends from that port's source address.
const nginxPerPort = 12000

// nginxWorkers is the number of workers nginx needs for conns proxied
// connections. With reuseport each worker accepts on its own socket and the
// kernel spreads the connections over them by hash: a margin of a third
// keeps the fullest worker under its fd limit.
func nginxWorkers(conns int) int { return max(1, (conns*4/3+nginxPerWorker-1)/nginxPerWorker) }

// nginxConf is the configuration of Debian's nginx with the stream module
// terminating TLS (k's server certificate, TLS 1.2 and 1.3) on the given
// ports of each route, in front of its backends, with workers worker
// processes. Its stream proxy reads through a 4 KiB buffer each way
// instead of 16 KiB: IM traffic is small frames, and nginx's memory per
// connection fell from 34.7 to 24.8 KiB with it (measured, 20,000 TLS
// connections). Every listening port has reuseport, so each worker accepts
// its own share, and its own source address toward the backends
// (127.0.1.N, proxy_bind): from one source address Linux runs out of
// ephemeral ports, or takes ever longer to find one, past the ~28,000 of
// its range (measured: connects to the gateway failing with EADDRNOTAVAIL
// and nginx marking every backend down, 30,000 connections into a ramp).
func nginxConf(k *pki, module, dir string, workers int, routes []nginxRoute, ports [][]int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `load_module %s;
worker_processes %d;
worker_rlimit_nofile 20000;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 19500; }
stream {
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_certificate %s;
  ssl_certificate_key %s;
  proxy_buffer_size 4k;
  log_format tls '$ssl_protocol $ssl_cipher';
`, module, workers, dir, dir, k.serverCert, k.serverKey)
	src := 0
	for i, r := range routes {
		fmt.Fprintf(&b, "  upstream route%d {\n", i)
		for _, be := range r.backends {
			fmt.Fprintf(&b, "    server %s;\n", be)
		}
		b.WriteString("  }\n")
		mutual := ""
		if r.mutual {
			mutual = " ssl_verify_client on; ssl_client_certificate " + k.ca + ";"
		}
		for _, p := range ports[i] {
			src++
			fmt.Fprintf(&b, "  server { listen 127.0.0.1:%d ssl reuseport;%s %s proxy_pass route%d; proxy_bind 127.0.1.%d; }\n", p, mutual, r.ssl, i, src)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// startNginx starts nginx (nginxConf) and waits until every port listens.
// It returns each route's addresses and nginx's master pid; nginx is
// stopped (SIGTERM to the master, which stops its workers) at cleanup.
// Without nginx and its stream module the test is skipped, or fails in CI.
func startNginx(tb testing.TB, k *pki, workers int, routes ...nginxRoute) (addrs [][]string, master int) {
	tb.Helper()
	bin, err := exec.LookPath("nginx")
	mod := "/usr/lib/nginx/modules/ngx_stream_module.so"
	if _, serr := os.Stat(mod); err != nil || serr != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("nginx with the stream module is missing (apt-get install nginx-light libnginx-mod-stream): %v %v", err, serr)
		}
		tb.Skip("nginx with the stream module is not installed (apt-get install nginx-light libnginx-mod-stream)")
	}
	ports := make([][]int, len(routes))
	for i, r := range routes {
		ports[i], _ = rt.FreePorts(tb, r.ports)
	}
	dir := tb.TempDir()
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(nginxConf(k, mod, dir, workers, routes, ports)), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", cf, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // nginx stops its workers itself
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if tb.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			tb.Logf("nginx error.log:\n%s", b)
		}
	})
	for i := range routes {
		var as []string
		for _, p := range ports[i] {
			addr := "127.0.0.1:" + strconv.Itoa(p)
			waitFor(tb, 10*time.Second, "nginx listening on "+addr, func() bool {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
				}
				return err == nil
			})
			as = append(as, addr)
		}
		addrs = append(addrs, as)
	}
	return addrs, cmd.Process.Pid
}

// nginxStream starts one nginx worker terminating TLS on two loopback
// ports in front of backend: the first with any client, the second
// requiring a client certificate from the test CA.
func nginxStream(t *testing.T, k *pki, backend string) (open, mutual string) {
	t.Helper()
	addrs, _ := startNginx(t, k, 1, nginxRoute{ports: 1, backends: []string{backend}}, nginxRoute{ports: 1, backends: []string{backend}, mutual: true})
	return addrs[0][0], addrs[1][0]
}

// TestTLSSuitesThroughNginx runs the epoll engine's record layer through
// nginx (OpenSSL) with each TLS 1.3 suite and two TLS 1.2 suites forced by
// nginx's configuration: every connection logs in, heartbeats and messages
// are answered, the gateway holds what the swarm holds, and nginx's own
// log names the suite each connection used. A record layer that gets a
// suite's keys, nonces or framing wrong fails the first record.
func TestTLSSuitesThroughNginx(t *testing.T) {
	k := newPKI(t)
	g := rt.NewGateway(t, refserver.Options{}, 1)
	logs := t.TempDir()
	suites := []struct{ version, cipher, conf string }{
		{"TLSv1.3", "TLS_AES_128_GCM_SHA256", "ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;"},
		{"TLSv1.3", "TLS_AES_256_GCM_SHA384", "ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;"},
		{"TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", "ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;"},
		{"TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384", "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384;"},
		{"TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305", "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-CHACHA20-POLY1305;"},
	}
	var routes []nginxRoute
	for i, s := range suites {
		routes = append(routes, nginxRoute{ports: 1, backends: []string{g.Addrs[0]},
			ssl: fmt.Sprintf("%s access_log %s/%d.log tls;", s.conf, logs, i)})
	}
	addrs, _ := startNginx(t, k, 1, routes...)
	const n = 40
	for i, s := range suites {
		t.Run(s.cipher, func(t *testing.T) {
			o := Options{Targets: []string{"tls://" + addrs[i][0]}, TLS: TLSOptions{CAFile: k.ca}, Engine: EngineEpoll,
				Conns: n, Procs: 1, Hold: time.Second, Heartbeat: 200 * time.Millisecond, MsgRate: 100}
			sw, errc := startSwarm(t, o)
			waitFor(t, 20*time.Second, "all held", func() bool { return sw.Snapshot().Held == n })
			if got := g.Snapshot().Sessions; got != n {
				t.Fatalf("the gateway behind nginx has %d sessions, the swarm holds %d", got, n)
			}
			waitRun(t, errc, 30*time.Second)
			st := sw.Snapshot()
			if len(st.Errors) != 0 || st.Dropped != 0 || st.Pongs == 0 || st.Sent == 0 || st.Acked != st.Sent {
				t.Fatalf("errors %v (%v) dropped %d pongs %d sent %d acked %d", st.Errors, st.ErrorExample, st.Dropped, st.Pongs, st.Sent, st.Acked)
			}
			rt.Eventually(t, 10*time.Second, "the gateway's sessions to end", func() bool { return g.Snapshot().Sessions == 0 })
			// Each session's line: its protocol and cipher; "(NONE)" for a
			// connection that never began TLS (startNginx's check that the
			// port listens).
			want := s.version + " " + s.cipher
			var got []string
			rt.Eventually(t, 10*time.Second, fmt.Sprintf("nginx to log %d TLS sessions", n), func() bool {
				b, _ := os.ReadFile(filepath.Join(logs, fmt.Sprintf("%d.log", i)))
				got = got[:0]
				for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					if !strings.HasSuffix(l, "(NONE)") {
						got = append(got, l)
					}
				}
				return len(got) >= n
			})
			for _, l := range got {
				if l != want {
					t.Fatalf("nginx logged a session as %q, want %q", l, want)
				}
			}
		})
	}
}
