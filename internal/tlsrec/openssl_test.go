package tlsrec

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run tlsrec against OpenSSL (the library of nginx and
// mosquitto) through the openssl command, when it is installed: the one
// peer that negotiates TLS_AES_256_GCM_SHA384, sends its TLS 1.3 tickets a
// round trip after the handshake (two by default), and can be told to
// send a KeyUpdate or ask to renegotiate.

// opensslCase is a version and suite as OpenSSL names it.
type opensslCase struct {
	version uint16
	name    string // -ciphersuites (TLS 1.3) or -cipher (TLS 1.2) value
	want    uint16
	rsa     bool
}

var opensslCases = []opensslCase{
	{tls.VersionTLS13, "TLS_AES_128_GCM_SHA256", tls.TLS_AES_128_GCM_SHA256, false},
	{tls.VersionTLS13, "TLS_AES_256_GCM_SHA384", tls.TLS_AES_256_GCM_SHA384, true},
	{tls.VersionTLS13, "TLS_CHACHA20_POLY1305_SHA256", tls.TLS_CHACHA20_POLY1305_SHA256, false},
	{tls.VersionTLS12, "ECDHE-ECDSA-AES128-GCM-SHA256", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false},
	{tls.VersionTLS12, "ECDHE-RSA-AES256-GCM-SHA384", tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true},
	{tls.VersionTLS12, "ECDHE-ECDSA-CHACHA20-POLY1305", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false},
}

// args are the openssl options that force the case.
func (oc opensslCase) args() []string {
	if oc.version == tls.VersionTLS13 {
		return []string{"-tls1_3", "-ciphersuites", oc.name}
	}
	return []string{"-tls1_2", "-cipher", oc.name}
}

func (oc opensslCase) String() string {
	return tls.VersionName(oc.version) + "/" + oc.name
}

// opensslFiles writes the test certificate and key of the case as PEM.
func opensslFiles(t *testing.T, useRSA bool) (cert, key string) {
	t.Helper()
	serverConfig(t, useRSA) // makes the certificates
	der, priv := ecdsaDER, ecdsaPriv
	if useRSA {
		der, priv = rsaDER, rsaPriv
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// openssl is a running openssl command: its stdin, and its output so far.
type openssl struct {
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	done  chan struct{}
}

// startOpenSSL runs openssl with args; the test's cleanup kills it.
func startOpenSSL(t *testing.T, args ...string) *openssl {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing (apt-get install openssl)")
		}
		t.Skip("no openssl command on this host (apt-get install openssl)")
	}
	cmd := exec.Command(path, args...)
	p := &openssl{done: make(chan struct{})}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		r := bufio.NewReader(stdout)
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		cmd.Wait()
	})
	return p
}

// waitFor waits until the output matches re and returns the first match's
// submatches.
func (p *openssl) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		m := re.FindStringSubmatch(p.out.String())
		p.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-p.done:
			p.mu.Lock()
			m = re.FindStringSubmatch(p.out.String())
			out := p.out.String()
			p.mu.Unlock()
			if m != nil {
				return m
			}
			t.Fatalf("openssl ended without %q in its output:\n%s", re, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("no %q in openssl's output within %v:\n%s", re, testDeadline, p.out.String())
	return nil
}

// send writes a line to openssl's stdin.
func (p *openssl) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

var acceptRE = regexp.MustCompile(`ACCEPT (127\.0\.0\.1:\d+)`)

// opensslServer starts openssl s_server on 127.0.0.1 for the case with
// the extra options; its address.
func opensslServer(t *testing.T, oc opensslCase, extra ...string) (*openssl, string) {
	cert, key := opensslFiles(t, oc.rsa)
	args := append([]string{"s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key}, oc.args()...)
	p := startOpenSSL(t, append(args, extra...)...)
	return p, p.waitFor(t, acceptRE)[1]
}

// lines is n bytes of newline-ended lines of letters, none over 4 KiB.
func lines(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte((i*7+n)%26)
		if i%4096 == 4095 || i == n-1 {
			p[i] = '\n'
		}
	}
	return p
}

// reversed is what s_server -rev answers to lines: each line reversed.
func reversed(p []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(p, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		body := bytes.Clone(bytes.TrimSuffix(l, []byte("\n")))
		for i, j := 0, len(body)-1; i < j; i, j = i+1, j-1 {
			body[i], body[j] = body[j], body[i]
		}
		out = append(append(out, body...), '\n')
	}
	return out
}

// TestOpenSSLServer: the Client against s_server -rev for every suite,
// each size, a resumed second and third connection (TLS 1.3 tickets come
// a round trip after the handshake, two of them), and the server's
// close_notify.
func TestOpenSSLServer(t *testing.T) {
	for _, oc := range opensslCases {
		t.Run(oc.String(), func(t *testing.T) {
			_, addr := opensslServer(t, oc, "-rev")
			cfg := clientConfig(t)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i := range 3 {
				conn := dial(t, addr)
				s, h, err := Client(conn, cfg, Options{})
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				if s.Version() != oc.version || s.CipherSuite() != oc.want || h.State.DidResume != (i > 0) {
					t.Fatalf("connection %d: %s %s, resumed %v", i, tls.VersionName(s.Version()), tls.CipherSuiteName(s.CipherSuite()), h.State.DidResume)
				}
				if oc.version == tls.VersionTLS13 && h.Tickets == 0 {
					t.Fatalf("connection %d: no ticket taken within %v", i, DefaultTicketWait)
				}
				t.Logf("connection %d: tickets taken %d, pending %d bytes", i, h.Tickets, len(h.Pending))
				r := newRec(conn, s, h, i == 1)
				for _, n := range testMessageSizes {
					msg := lines(n)
					if err := r.send(msg); err != nil {
						t.Fatal(err)
					}
					got, err := r.recv(n)
					if err != nil {
						t.Fatalf("%d bytes: %v", n, err)
					}
					if !bytes.Equal(got, reversed(msg)) {
						t.Fatalf("%d bytes: the answer is not the lines reversed", n)
					}
				}
				if i < 2 {
					conn.Write(s.CloseNotify(nil))
					conn.Close()
					continue
				}
				r.send([]byte("CLOSE\n")) // s_server -rev ends the session
				_, err = r.recvErr()
				var a *AlertError
				if !errors.As(err, &a) || !a.Clean() {
					t.Fatalf("after CLOSE: %v", err)
				}
			}
		})
	}
}

// TestOpenSSLServerKeyUpdate: s_server sends KeyUpdates (k: not requested,
// K: requested) and data; the Client follows, answers, and s_server reads
// what comes after under the client's new key.
func TestOpenSSLServerKeyUpdate(t *testing.T) {
	for _, oc := range opensslCases[:3] {
		t.Run(oc.String(), func(t *testing.T) {
			p, addr := opensslServer(t, oc)
			conn := dial(t, addr)
			s, h, err := Client(conn, clientConfig(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRec(conn, s, h, false)
			for i, cmd := range []string{"k", "K", "K"} {
				// s_server takes a command only alone in its read of stdin:
				// the next line waits for the KeyUpdate to arrive.
				p.send(t, cmd)
				if err := r.waitUpdates(i + 1); err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				p.send(t, fmt.Sprintf("from the server %d", i))
				got, err := r.recv(len("from the server 0\n"))
				if err != nil || string(got) != fmt.Sprintf("from the server %d\n", i) {
					t.Fatalf("%s: %q, %v", cmd, got, err)
				}
				if err := r.send(fmt.Appendf(nil, "from the client %d\n", i)); err != nil {
					t.Fatal(err)
				}
				p.waitFor(t, regexp.MustCompile(fmt.Sprintf("from the client %d", i)))
			}
		})
	}
}

// TestOpenSSLServerRenegotiation: s_server asking to renegotiate TLS 1.2
// (r) fails Open with the renegotiation class.
func TestOpenSSLServerRenegotiation(t *testing.T) {
	oc := opensslCases[3]
	p, addr := opensslServer(t, oc)
	conn := dial(t, addr)
	s, h, err := Client(conn, clientConfig(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.send(t, "r") // s_server sends a HelloRequest
	_, err = newRec(conn, s, h, false).recvErr()
	var re *RecordError
	if !errors.As(err, &re) || re.Class() != ClassRenegotiation {
		t.Fatalf("renegotiation request: %v", err)
	}
	t.Logf("%v — fix: %s", err, re.Fix())
}

// TestOpenSSLClient: s_client against the Server for every suite: data
// both ways, a KeyUpdate s_client asks for an answer to (TLS 1.3), and a
// resumed second connection.
func TestOpenSSLClient(t *testing.T) {
	for _, oc := range opensslCases {
		t.Run(oc.String(), func(t *testing.T) {
			srv := serverConfig(t, oc.rsa)
			addr, done := ourServer(t, srv, false)
			sess := filepath.Join(t.TempDir(), "session.pem")
			for i := range 2 {
				args := append([]string{"s_client", "-connect", addr, "-servername", "localhost"}, oc.args()...)
				if i == 0 {
					args = append(args, "-sess_out", sess)
				} else {
					args = append(args, "-sess_in", sess)
				}
				p := startOpenSSL(t, args...)
				p.waitFor(t, regexp.MustCompile(`(?s)---\n.*Verify return code`))
				p.send(t, "hello through tlsrec")
				p.waitFor(t, regexp.MustCompile(`hello through tlsrec\n`))
				if oc.version == tls.VersionTLS13 {
					p.send(t, "K")
					p.waitFor(t, regexp.MustCompile(`KEYUPDATE`))
				}
				long := "after " + strings.Repeat("x", 3000)
				p.send(t, long)
				p.waitFor(t, regexp.MustCompile(regexp.QuoteMeta(long)+"\n"))
				p.stdin.Close() // s_client sends close_notify
				r := <-done
				if r.err != nil {
					t.Fatalf("connection %d: server: %v", i, r.err)
				}
				if r.h.State.DidResume != (i == 1) {
					t.Fatalf("connection %d: DidResume %v", i, r.h.State.DidResume)
				}
				if oc.version == tls.VersionTLS13 && r.updates != 1 {
					t.Fatalf("connection %d: the server's read key moved %d times for one KeyUpdate", i, r.updates)
				}
			}
		})
	}
}
