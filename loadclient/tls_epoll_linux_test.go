//go:build linux

package loadclient

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/tlsrec"
)

// tlsEchoServer is a crypto/tls server on a loopback port that echoes what
// each connection sends; it keeps each connection's TCP socket (raw, in
// accept order) for the test to write under TLS, and closes each
// connection after hold when hold > 0.
type tlsEchoServer struct {
	addr     string
	accepted func() []net.Conn // the raw connections, in order
}

func startTLSEcho(t *testing.T, k *pki, hold time.Duration) *tlsEchoServer {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(k.serverCert, k.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	accepted := acceptAll(t, ln, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if hold > 0 {
			_ = c.SetDeadline(time.Now().Add(hold))
		}
		_, _ = io.Copy(tc, tc)
	})
	return &tlsEchoServer{addr: ln.Addr().String(), accepted: accepted}
}

// A record the server's TLS did not make (here: a record header with the
// wrong version) closes that connection alone, counted as tls_bad_record
// with tlsrec's fix; the others stay held.
func TestEpollTLSBadRecordClosesOne(t *testing.T) {
	k := newPKI(t)
	srv := startTLSEcho(t, k, 0)
	const n = 10
	sw, _ := startSwarm(t, Options{Targets: []string{"tls://" + srv.addr}, TLS: TLSOptions{CAFile: k.ca}, Proto: ProtoRaw,
		Conns: n, Procs: 1, Hold: time.Hour, Engine: EngineEpoll})
	waitFor(t, 20*time.Second, "all held", func() bool { return sw.Snapshot().Held == n })
	_, err := srv.accepted()[3].Write(append([]byte{23, 3, 1, 0, 32}, make([]byte, 32)...))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the bad record's connection closed", func() bool { return sw.Snapshot().Held == n-1 })
	time.Sleep(200 * time.Millisecond)
	s := sw.Snapshot()
	if s.Held != n-1 || s.Errors[tlsrec.ClassBadRecord] != 1 || len(s.Errors) != 1 || s.Dropped != 1 {
		t.Fatalf("held %d dropped %d errors %v (%v): want %d held, one %s", s.Held, s.Dropped, s.Errors, s.ErrorExample, n-1, tlsrec.ClassBadRecord)
	}
	if ex := s.ErrorExample[tlsrec.ClassBadRecord]; !strings.Contains(ex, "version") || stats.Fix(tlsrec.ClassBadRecord) == "" {
		t.Fatalf("example %q, fix %q: want the record's fault and a fix", ex, stats.Fix(tlsrec.ClassBadRecord))
	}
}

// --tls-resume on the epoll engine: a crypto/tls server issues tickets and
// closes every connection after 300 ms; the redials resume, counted apart
// from the full handshakes.
func TestEpollTLSResumeOnRedial(t *testing.T) {
	k := newPKI(t)
	srv := startTLSEcho(t, k, 300*time.Millisecond)
	const n = 20
	sw, errc := startSwarm(t, Options{Targets: []string{"tls://" + srv.addr}, TLS: TLSOptions{CAFile: k.ca, Resume: true}, Proto: ProtoRaw,
		Conns: n, Procs: 1, Hold: 1500 * time.Millisecond, Reconnect: true, Engine: EngineEpoll, Backoff: Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: JitterNone}})
	waitRun(t, errc, 30*time.Second)
	s := sw.Snapshot()
	full, resumed := s.Latency[stats.LatTLS].Count, s.Latency[stats.LatTLSResumed].Count
	if full == 0 || full > n || resumed < n || full+resumed != s.Attempts {
		t.Fatalf("%d full and %d resumed handshakes of %d attempts (errors %v): want at most %d full (the ramp's first), then every redial resumed", full, resumed, s.Attempts, s.Errors, n)
	}
}

// A KeyUpdate from the server mid-hold, without and with update_requested
// (openssl s_server's k and K), on the epoll engine: the swarm keeps the
// connection, reads what the server sends under its new key, and (K) sends
// its own KeyUpdate, after which the server still reads its messages.
func TestEpollTLSKeyUpdateFromOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing (apt-get install openssl)")
		}
		t.Skip("openssl is not installed (apt-get install openssl)")
	}
	k := newPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("openssl", "s_server", "-accept", "127.0.0.1:"+strconv.Itoa(port), "-cert", k.serverCert, "-key", k.serverKey, "-tls1_3", "-ign_eof")
	stdin, _ := cmd.StdinPipe()
	out := &lockedLog{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 10*time.Second, "s_server to listen", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// s_server served the probe's connection: it takes the next.
	sw, _ := startSwarm(t, Options{Targets: []string{"tls://127.0.0.1:" + strconv.Itoa(port)}, TLS: TLSOptions{CAFile: k.ca}, Proto: ProtoRaw,
		Conns: 1, Procs: 1, Hold: time.Hour, MsgRate: 20, Payload: 16, Engine: EngineEpoll})
	waitFor(t, 20*time.Second, "held", func() bool { return sw.Snapshot().Held == 1 })
	start := out.Len() // the probe's connection is over: what s_server says from here is the swarm's
	waitFor(t, 10*time.Second, "messages to reach s_server", func() bool { return sw.Snapshot().Sent > 0 && out.Len() > 0 })
	for i, cmd := range []string{"k", "K"} {
		before, in := out.Len(), sw.Snapshot().BytesIn
		if _, err := io.WriteString(stdin, cmd+"\nafter "+cmd+"\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "s_server to send the KeyUpdate and a line under its new key, and read messages after", func() bool {
			s := sw.Snapshot()
			return s.BytesIn > in && out.Len() > before+64 && s.Held == 1
		})
		if got := strings.Count(out.String(), "SSL_do_handshake -> 1"); got != i+1 {
			t.Fatalf("s_server said it sent %d KeyUpdates, want %d:\n%s", got, i+1, out.String())
		}
	}
	time.Sleep(300 * time.Millisecond)
	s := sw.Snapshot()
	if s.Held != 1 || len(s.Errors) != 0 || s.Dropped != 0 {
		t.Fatalf("held %d dropped %d errors %v (%v) after the KeyUpdates\n%s", s.Held, s.Dropped, s.Errors, s.ErrorExample, out.String())
	}
	if tail := out.String()[start:]; strings.Contains(tail, "error") || strings.Contains(tail, "ERROR") {
		t.Fatalf("s_server reports an error:\n%s", tail)
	}
}

// lockedLog is a process's output, written by its pipe's goroutine and
// read by the test.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) Len() int { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.Len() }

func (l *lockedLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }
