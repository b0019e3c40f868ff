package tlsrec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// Self-signed certificates for 127.0.0.1 and localhost, made once per
// test binary, and a pool that trusts both.
var (
	certsOnce          sync.Once
	certsErr           error
	ecdsaCert, rsaCert tls.Certificate
	ecdsaDER, rsaDER   []byte // for openssl's PEM files
	ecdsaPriv, rsaPriv any
	certPool           *x509.CertPool
)

var (
	testDeadline     = 20 * time.Second        // on every test conn
	testMessageSizes = []int{1, 16384, 100000} // a byte, a full record, several records
	ecdsaSuite12     = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	rsaSuite12       = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
	// chachaFirst12 as a client's TLS 1.2 list puts a ChaCha20 suite first
	// in its ClientHello, so a crypto/tls server picks ChaCha20 in TLS 1.3.
	chachaFirst12 = []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
)

func makeCerts() {
	template := func(serial int64) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "tlsrec test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IsCA:         true,

			BasicConstraintsValid: true,
		}
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		certsErr = err
		return
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		certsErr = err
		return
	}
	if ecdsaDER, err = x509.CreateCertificate(rand.Reader, template(1), template(1), &ek.PublicKey, ek); err != nil {
		certsErr = err
		return
	}
	if rsaDER, err = x509.CreateCertificate(rand.Reader, template(2), template(2), &rk.PublicKey, rk); err != nil {
		certsErr = err
		return
	}
	ecdsaPriv, rsaPriv = ek, rk
	ecdsaCert = tls.Certificate{Certificate: [][]byte{ecdsaDER}, PrivateKey: ek}
	rsaCert = tls.Certificate{Certificate: [][]byte{rsaDER}, PrivateKey: rk}
	certPool = x509.NewCertPool()
	for _, der := range [][]byte{ecdsaDER, rsaDER} {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			certsErr = err
			return
		}
		certPool.AddCert(c)
	}
}

// serverConfig is a server config with the ECDSA or RSA certificate.
func serverConfig(t testing.TB, useRSA bool) *tls.Config {
	t.Helper()
	certsOnce.Do(makeCerts)
	if certsErr != nil {
		t.Fatal(certsErr)
	}
	c := &tls.Config{Certificates: []tls.Certificate{ecdsaCert}}
	if useRSA {
		c.Certificates = []tls.Certificate{rsaCert}
	}
	return c
}

// clientConfig trusts the test certificates.
func clientConfig(t testing.TB) *tls.Config {
	t.Helper()
	certsOnce.Do(makeCerts)
	if certsErr != nil {
		t.Fatal(certsErr)
	}
	return &tls.Config{RootCAs: certPool, ServerName: "127.0.0.1"}
}

// listen is a TCP listener on 127.0.0.1 whose accepted conns go to handle,
// each on its goroutine; the test's cleanup closes it and waits for them.
func listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(testDeadline))
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// tlsServer is a crypto/tls server on 127.0.0.1 running handle on each
// connection after its handshake.
func tlsServer(t testing.TB, cfg *tls.Config, handle func(*tls.Conn)) string {
	return listen(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		handle(tc)
	})
}

// echo writes back what it reads until the conn fails or ends.
func echo(c io.ReadWriter) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// dial connects to addr with a deadline the cleanup closes.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testDeadline))
	t.Cleanup(func() { c.Close() })
	return c
}

// rec drives a Session over a conn the way an event loop does: raw bytes
// in, Open, replies written back. bytewise feeds Open one byte more at a
// time instead of everything read at once.
type rec struct {
	conn     net.Conn
	s        *Session
	raw      []byte // read, not yet consumed by Open
	plain    []byte // opened, not yet taken
	bytewise bool
	fed      int // bytewise: how much of raw Open has been shown
	updates  int // KeyUpdates Open took: read key changes
}

func newRec(conn net.Conn, s *Session, h Handover, bytewise bool) *rec {
	return &rec{conn: conn, s: s, raw: h.Pending, bytewise: bytewise}
}

// send seals p and writes it.
func (r *rec) send(p []byte) error {
	_, err := r.conn.Write(r.s.Seal(nil, p))
	return err
}

// open runs Open over what is in raw.
func (r *rec) open() error {
	if !r.bytewise {
		return r.openUpTo(len(r.raw))
	}
	for r.fed < len(r.raw) {
		r.fed++
		if err := r.openUpTo(r.fed); err != nil {
			return err
		}
	}
	return nil
}

func (r *rec) openUpTo(n int) error {
	before := r.s.in.secret
	out, k, reply, err := r.s.Open(r.plain, r.raw[:n])
	if r.s.in.secret != before {
		r.updates++
	}
	r.plain = out
	if k > n {
		return errors.New("Open consumed more than it was given")
	}
	r.raw = r.raw[k:]
	r.fed -= k
	if len(reply) > 0 {
		if _, werr := r.conn.Write(reply); werr != nil {
			return werr
		}
	}
	return err
}

// recv reads until n bytes of plaintext are there and returns them.
func (r *rec) recv(n int) ([]byte, error) {
	if err := r.open(); err != nil {
		return nil, err
	}
	buf := make([]byte, 32<<10)
	for len(r.plain) < n {
		m, err := r.conn.Read(buf)
		r.raw = append(r.raw, buf[:m]...)
		if oerr := r.open(); oerr != nil {
			return nil, oerr
		}
		if err != nil {
			return nil, err
		}
	}
	p := r.plain[:n]
	r.plain = r.plain[n:]
	return p, nil
}

// waitUpdates reads until Open has taken n KeyUpdates in all.
func (r *rec) waitUpdates(n int) error {
	buf := make([]byte, 32<<10)
	for r.updates < n {
		m, err := r.conn.Read(buf)
		r.raw = append(r.raw, buf[:m]...)
		if oerr := r.open(); oerr != nil {
			return oerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// recvErr reads until Open fails and returns the plaintext before it
// with the error.
func (r *rec) recvErr() ([]byte, error) {
	buf := make([]byte, 32<<10)
	if err := r.open(); err != nil {
		return r.plain, err
	}
	for {
		m, err := r.conn.Read(buf)
		r.raw = append(r.raw, buf[:m]...)
		if oerr := r.open(); oerr != nil {
			return r.plain, oerr
		}
		if err != nil {
			return r.plain, err
		}
	}
}

// message is n bytes of a pattern that differs per size.
func message(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + n)
	}
	return p
}

// pair is a client and a server Session of suite id sharing random keys,
// as a handshake would leave them, without one.
func pair(t testing.TB, id uint16) (client, server *Session) {
	t.Helper()
	var idx uint8
	found := false
	for i := range suites {
		if suites[i].id == id {
			idx, found = uint8(i), true
		}
	}
	if !found {
		t.Fatalf("suite %#04x is not in suites", id)
	}
	cs := &suites[idx]
	version := uint16(tls.VersionTLS12)
	if cs.tls13 {
		version = tls.VersionTLS13
	}
	client = &Session{version: version, suite: idx}
	server = &Session{version: version, suite: idx, server: true}
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	if cs.tls13 {
		a, b := random(cs.size), random(cs.size)
		client.out.setSecret(cs, a)
		client.in.setSecret(cs, b)
		server.out.setSecret(cs, b)
		server.in.setSecret(cs, a)
		return client, server
	}
	master, cr, sr := random(48), random(32), random(32)
	client.setKeys12(master, cr, sr)
	server.setKeys12(master, cr, sr)
	return client, server
}

// allSuites are the IDs of suites.
func allSuites() []uint16 {
	ids := make([]uint16, len(suites))
	for i := range suites {
		ids[i] = suites[i].id
	}
	return ids
}

// resumeCases are the handshake cases resumption is tested in: two TLS 1.3
// ones and every TLS 1.2 suite.
func resumeCases() []handshakeCase {
	all := handshakeCases()
	cases := []handshakeCase{all[0], all[2]}
	for _, hc := range all {
		if hc.version == tls.VersionTLS12 {
			cases = append(cases, hc)
		}
	}
	return cases
}
