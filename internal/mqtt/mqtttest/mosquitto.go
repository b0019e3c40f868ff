// Package mqtttest starts Debian's mosquitto for tests: on loopback ports
// it picks, with a config it writes (anonymous or a password file,
// max_connections, a TLS listener with a CA and a server certificate it
// makes, $SYS published every second), and stops it when the test ends,
// even when the test fails.
package mqtttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options is the broker a test wants.
type Options struct {
	// Users go into a password file; with any, anonymous clients are
	// refused (CONNACK not authorized).
	Users map[string]string
	// MaxConnections limits each listener (0: no limit); mosquitto closes
	// connections past it before answering them.
	MaxConnections int
	// MaxInflight is max_inflight_messages: QoS 1/2 messages in flight
	// per client, which mosquitto announces to 5.0 clients as its Receive
	// Maximum (0: mosquitto's default, 20).
	MaxInflight int
	// TLS adds a TLS listener with a certificate for 127.0.0.1 and
	// "localhost" signed by a CA made for this broker.
	TLS bool
	// WebSockets adds a listener of MQTT over WebSocket (subprotocol mqtt).
	WebSockets bool
}

// Broker is a running mosquitto.
type Broker struct {
	Addr    string // plain MQTT, 127.0.0.1:port
	TLSAddr string // MQTT over TLS ("" without Options.TLS)
	WSAddr  string // MQTT over WebSocket ("" without Options.WebSockets)
	// RootCAs trusts the CA that signed the TLS listener's certificate;
	// CAFile is that CA in PEM (for --tls-ca).
	RootCAs *x509.CertPool
	CAFile  string
	cmd     *exec.Cmd
	log     *syncBuffer
}

// PID is the broker's process id.
func (b *Broker) PID() int { return b.cmd.Process.Pid }

// Log is what mosquitto wrote so far.
func (b *Broker) Log() string { return b.log.String() }

// TLSConfig is a client configuration that verifies the broker.
func (b *Broker) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: b.RootCAs, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// Start starts mosquitto for t; the test is skipped when mosquitto is not
// installed (apt-get install mosquitto; .ci/run installs it).
func Start(t testing.TB, o Options) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mosquitto"); e != nil {
			t.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
		bin = "/usr/sbin/mosquitto"
	}
	dir := t.TempDir()
	b := &Broker{log: new(syncBuffer)}
	var tlsLines string
	if o.TLS {
		if tlsLines, b.RootCAs, err = writeCerts(dir); err != nil {
			t.Fatal(err)
		}
		b.CAFile = filepath.Join(dir, "ca.pem")
	}
	conf := []string{"persistence false", "sys_interval 1", "log_dest stderr",
		"log_type error", "log_type warning", "log_type notice", "log_type information", "per_listener_settings false"}
	if o.MaxInflight > 0 {
		conf = append(conf, fmt.Sprintf("max_inflight_messages %d", o.MaxInflight))
	}
	if u, err := user.Current(); err == nil {
		conf = append(conf, "user "+u.Username) // run as the test's user, who owns the files
	}
	if len(o.Users) > 0 {
		pw := filepath.Join(dir, "passwd")
		if err := os.WriteFile(pw, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for name, pass := range o.Users {
			if out, err := exec.Command("mosquitto_passwd", "-b", pw, name, pass).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v %s", err, out)
			}
		}
		conf = append(conf, "allow_anonymous false", "password_file "+pw)
	} else {
		conf = append(conf, "allow_anonymous true")
	}
	// A port picked free may be taken again before mosquitto binds it:
	// try a few times.
	for try := 0; ; try++ {
		ports := freePorts(t, 2)
		lines := append([]string(nil), conf...)
		lines = append(lines, listener(ports[0], o.MaxConnections)...)
		b.Addr, b.TLSAddr = fmt.Sprintf("127.0.0.1:%d", ports[0]), ""
		if o.TLS {
			lines = append(lines, listener(ports[1], o.MaxConnections)...)
			lines = append(lines, tlsLines)
			b.TLSAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
		}
		b.WSAddr = ""
		if o.WebSockets {
			// mosquitto 2.0.11 cannot open a websockets listener on a
			// port above 32767: one below the kernel's ephemeral range.
			p := lowFreePort(t)
			lines = append(lines, listener(p, o.MaxConnections)...)
			lines = append(lines, "protocol websockets")
			b.WSAddr = fmt.Sprintf("127.0.0.1:%d", p)
		}
		cf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(cf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b.cmd = exec.Command(bin, "-c", cf)
		b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
		if err := b.cmd.Start(); err != nil {
			t.Fatalf("start mosquitto: %v", err)
		}
		exited := make(chan struct{})
		go func() { b.cmd.Wait(); close(exited) }()
		t.Cleanup(func() { stop(b.cmd, exited) })
		if b.ready(exited) {
			return b
		}
		stop(b.cmd, exited)
		if try == 2 {
			t.Fatalf("mosquitto did not start listening on %s: %s", b.Addr, b.Log())
		}
	}
}

func listener(port, maxConns int) []string {
	l := []string{fmt.Sprintf("listener %d 127.0.0.1", port)}
	if maxConns > 0 {
		l = append(l, fmt.Sprintf("max_connections %d", maxConns))
	}
	return l
}

// ready waits (5 s at most) until mosquitto logs that it runs: its
// listeners are open then. It does not probe them: mosquitto 2.0.11
// miscounts a connection closed before its CONNECT against
// max_connections.
func (b *Broker) ready(exited chan struct{}) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if strings.Contains(b.Log(), " running") {
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}

// stop ends the broker this package started: SIGTERM, then SIGKILL after
// 3 s.
func stop(cmd *exec.Cmd, exited chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

func freePorts(t testing.TB, n int) []int {
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// lowFreePort is a free loopback port in 20000-32767, from a place that
// differs per process and call, so parallel test processes rarely meet.
func lowFreePort(t testing.TB) int {
	start := 20000 + int(time.Now().UnixNano()/1000%12000)
	for i := range 12768 {
		p := 20000 + (start-20000+i)%12768
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port in 20000-32767")
	return 0
}

// writeCerts writes a CA and a server certificate it signed (ECDSA P-256,
// valid for 127.0.0.1 and localhost for a day) into dir and returns the
// listener's TLS lines and a pool trusting the CA.
func writeCerts(dir string) (string, *x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imtool test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	files := map[string][]byte{
		"ca.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	lines := fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s", filepath.Join(dir, "ca.pem"),
		filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	return lines, pool, nil
}

// syncBuffer is the broker's log, written by the process's pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
