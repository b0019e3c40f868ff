package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/loadclient"
)

// serveAgent serves a fake-run agent with tlsConf (nil: plain HTTP) on an
// ephemeral loopback port until the test ends, and returns its address.
func serveAgent(t *testing.T, tlsConf *tls.Config) string {
	t.Helper()
	a, err := New(Options{Token: "s3cret", TLS: tlsConf,
		Env: func() loadclient.Env {
			return loadclient.Env{PortRange: [2]int{32768, 60999}, NofileHard: 20000, CPUs: 2}
		},
		Start: func(loadclient.Options) (Run, error) { return newFakeRun(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestSelfSignedCertificate: the first start writes a certificate and a
// private key beside the token; later starts reuse them; a lone half of
// the pair is refused with the fix.
func TestSelfSignedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := CertFiles(filepath.Join(dir, "agent.token"))
	if certFile != filepath.Join(dir, "agent.crt") || keyFile != filepath.Join(dir, "agent.key") {
		t.Fatalf("CertFiles: %s %s", certFile, keyFile)
	}
	cert, created, err := LoadOrCreateCert(certFile, keyFile)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	if fi, err := os.Stat(keyFile); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	again, created, err := LoadOrCreateCert(certFile, keyFile)
	if err != nil || created || Fingerprint(again.Certificate[0]) != Fingerprint(cert.Certificate[0]) {
		t.Fatalf("second start: created %v, %v, another certificate", created, err)
	}
	if runtime.GOOS != "windows" {
		os.Chmod(keyFile, 0o644)
		if _, err := LoadCert(certFile, keyFile); err == nil || !strings.Contains(err.Error(), "chmod 600 "+keyFile) {
			t.Errorf("a key others may read: %v", err)
		}
		os.Chmod(keyFile, 0o600)
	}
	os.Remove(certFile)
	if _, _, err := LoadOrCreateCert(certFile, keyFile); err == nil || !strings.Contains(err.Error(), "delete both") {
		t.Fatalf("key without certificate: %v", err)
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("the lone key was removed: %v", err)
	}
}

// TestTLSPinning: a coordinator reaches an agent's TLS API only with the
// certificate's fingerprint pinned; a wrong pin, no pin, or plain HTTP
// fail with the fix, and the agent starts nothing.
func TestTLSPinning(t *testing.T) {
	dir := t.TempDir()
	cert, _, err := LoadOrCreateCert(filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveAgent(t, ServerTLS(cert))
	fp := Fingerprint(cert.Certificate[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// As the agent prints it, then as `openssl x509 -noout -fingerprint -sha256` does.
	openssl := "sha256 Fingerprint=" + strings.ToUpper(strings.Join(splitPairs(strings.TrimPrefix(fp, "sha256:")), ":"))
	pins, err := ParseFingerprints("sha256:" + strings.Repeat("ab", 32) + ", " + openssl)
	if err != nil || len(pins) != 2 || pins[1] != fp {
		t.Fatalf("ParseFingerprints: %q %v (openssl's form must read as %s)", pins, err, fp)
	}
	for _, c := range []*Client{NewClient(addr, "s3cret", pins), NewClient("https://"+addr, "s3cret", []string{fp})} {
		if in, err := c.Info(ctx); err != nil || in.Environment.Nofile() != 20000 {
			t.Fatalf("pinned %s: %+v %v", c.Addr, in, err)
		}
		if _, err := c.Start(ctx, slice("127.0.0.1:9000"), true); err != nil {
			t.Fatalf("pinned dry run: %v", err)
		}
	}

	var pe *PinError
	wrong := NewClient(addr, "s3cret", []string{"sha256:" + strings.Repeat("00", 32)})
	if _, err := wrong.Start(ctx, slice("127.0.0.1:9000"), false); !errors.As(err, &pe) || pe.Got != fp || !strings.Contains(err.Error(), "is not one of --agent-fingerprint") {
		t.Fatalf("wrong pin: %v", err)
	}
	if _, err := NewClient(addr, "s3cret", nil).Info(ctx); err == nil || !strings.Contains(err.Error(), "give --agent-fingerprint") {
		t.Fatalf("no pin for a self-signed agent: %v", err)
	}
	var se *StatusError
	if _, err := NewClient("http://"+addr, "s3cret", nil).Info(ctx); !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(err.Error(), "the agent serves TLS") {
		t.Fatalf("plain HTTP to a TLS agent: %v", err)
	}

	plain := serveAgent(t, nil) // --insecure-http
	if _, err := NewClient(plain, "s3cret", []string{fp}).Info(ctx); err == nil || !strings.Contains(err.Error(), "--insecure-http: name it http://HOST:PORT") {
		t.Fatalf("TLS to a plain agent: %v", err)
	}
	if _, err := NewClient("http://"+plain, "s3cret", nil).Info(ctx); err != nil {
		t.Fatalf("plain agent named http://: %v", err)
	}
	if _, err := ParseFingerprints("sha256:abcd"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("short fingerprint: %v", err)
	}
}

// splitPairs cuts hex into two-digit groups, as openssl prints a fingerprint.
func splitPairs(hex string) []string {
	var out []string
	for i := 0; i+2 <= len(hex); i += 2 {
		out = append(out, hex[i:i+2])
	}
	return out
}
