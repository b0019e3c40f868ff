package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// handshakeCase is a way to make crypto/tls negotiate one version and
// suite: the server's certificate and limits, and the client's suites.
type handshakeCase struct {
	name          string
	version, want uint16 // version to force, suite expected
	rsa           bool
	serverSuites  []uint16 // TLS 1.2 only
	clientSuites  []uint16 // TLS 1.2 list, which also steers TLS 1.3
}

// handshakeCases covers every suite crypto/tls can be made to pick. TLS
// 1.3 suites are not configurable in crypto/tls; a client whose first
// suite is not AES-GCM makes a crypto/tls server prefer ChaCha20, and
// otherwise it picks AES-128-GCM, never AES-256-GCM (that one is tested
// against OpenSSL, TestOpenSSL*).
func handshakeCases() []handshakeCase {
	cases := []handshakeCase{
		{name: "1.3/AES128/ECDSA", version: tls.VersionTLS13, want: tls.TLS_AES_128_GCM_SHA256},
		{name: "1.3/AES128/RSA", version: tls.VersionTLS13, want: tls.TLS_AES_128_GCM_SHA256, rsa: true},
		{name: "1.3/CHACHA20/ECDSA", version: tls.VersionTLS13, want: tls.TLS_CHACHA20_POLY1305_SHA256, clientSuites: chachaFirst12},
		{name: "1.3/CHACHA20/RSA", version: tls.VersionTLS13, want: tls.TLS_CHACHA20_POLY1305_SHA256, rsa: true, clientSuites: chachaFirst12},
	}
	for i, id := range ecdsaSuite12 {
		cases = append(cases,
			handshakeCase{name: "1.2/" + tls.CipherSuiteName(id), version: tls.VersionTLS12, want: id, serverSuites: []uint16{id}},
			handshakeCase{name: "1.2/" + tls.CipherSuiteName(rsaSuite12[i]), version: tls.VersionTLS12, want: rsaSuite12[i], rsa: true, serverSuites: []uint16{rsaSuite12[i]}})
	}
	return cases
}

func (hc handshakeCase) server(t testing.TB) *tls.Config {
	c := serverConfig(t, hc.rsa)
	c.MaxVersion = hc.version
	c.CipherSuites = hc.serverSuites
	return c
}

func (hc handshakeCase) client(t testing.TB) *tls.Config {
	c := clientConfig(t)
	c.CipherSuites = hc.clientSuites
	return c
}

// exchange sends each size and expects it echoed, through r.
func exchange(t *testing.T, r *rec) {
	t.Helper()
	for _, n := range testMessageSizes {
		msg := message(n)
		if err := r.send(msg); err != nil {
			t.Fatalf("%d bytes: write: %v", n, err)
		}
		got, err := r.recv(n)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: the echo differs", n)
		}
	}
}

// TestClient runs the Client against a crypto/tls echo server for every
// suite, each message size both ways, Open fed at once and a byte at a
// time.
func TestClient(t *testing.T) {
	for _, hc := range handshakeCases() {
		for _, bytewise := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bytewise=%v", hc.name, bytewise), func(t *testing.T) {
				addr := tlsServer(t, hc.server(t), func(c *tls.Conn) { echo(c) })
				conn := dial(t, addr)
				s, h, err := Client(conn, hc.client(t), Options{})
				if err != nil {
					t.Fatal(err)
				}
				if s.Version() != hc.version || s.CipherSuite() != hc.want {
					t.Fatalf("negotiated %s %s, want %s %s", tls.VersionName(s.Version()), tls.CipherSuiteName(s.CipherSuite()),
						tls.VersionName(hc.version), tls.CipherSuiteName(hc.want))
				}
				exchange(t, newRec(conn, s, h, bytewise))
				if s.Tickets() != 0 && hc.version == tls.VersionTLS12 {
					t.Fatalf("TLS 1.2 session counted %d tickets", s.Tickets())
				}
			})
		}
	}
}

// TestClientLateTicket: a server that asks for a client certificate sends
// its ticket after the client's last flight, a round trip after Client's
// handshake ends, as OpenSSL always does. Waiting takes it into the cache
// and the next connection resumes; not waiting leaves it to Open, which
// counts and drops it.
func TestClientLateTicket(t *testing.T) {
	srv := serverConfig(t, false)
	srv.ClientAuth = tls.RequestClientCert
	addr := tlsServer(t, srv, func(c *tls.Conn) { echo(c) })
	cache := tls.NewLRUClientSessionCache(4)
	run := func(wait time.Duration, resume bool, taken, dropped int) {
		t.Helper()
		cfg := clientConfig(t)
		cfg.ClientSessionCache = cache
		conn := dial(t, addr)
		s, h, err := Client(conn, cfg, Options{TicketWait: wait})
		if err != nil {
			t.Fatal(err)
		}
		exchange(t, newRec(conn, s, h, false))
		if h.State.DidResume != resume || h.Tickets != taken || s.Tickets() != dropped {
			t.Fatalf("wait %v: resumed %v, tickets taken %d, dropped %d; want %v, %d, %d",
				wait, h.State.DidResume, h.Tickets, s.Tickets(), resume, taken, dropped)
		}
	}
	run(time.Nanosecond, false, 0, 1)
	run(0, false, 1, 0)
	run(0, true, 1, 0)
}

// TestClientResume: tickets reach the cache before the handover, the next
// connection resumes, and the record layer runs after either handshake,
// in TLS 1.3 and TLS 1.2, for each TLS 1.2 suite.
func TestClientResume(t *testing.T) {
	for _, hc := range resumeCases() {
		t.Run(hc.name, func(t *testing.T) {
			addr := tlsServer(t, hc.server(t), func(c *tls.Conn) { echo(c) })
			cfg := hc.client(t)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, resume := range []bool{false, true, true} {
				conn := dial(t, addr)
				s, h, err := Client(conn, cfg, Options{})
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				if h.State.DidResume != resume {
					t.Fatalf("connection %d: DidResume %v", i, h.State.DidResume)
				}
				if hc.version == tls.VersionTLS13 && h.Tickets != 1 {
					t.Fatalf("connection %d: %d tickets taken, want 1", i, h.Tickets)
				}
				exchange(t, newRec(conn, s, h, i == 2))
				if s.Tickets() != 0 {
					t.Fatalf("connection %d: Open saw %d tickets; the cache should have had them", i, s.Tickets())
				}
			}
		})
	}
}

// TestClientPendingData: application data the server sends right after
// the handshake (with its ticket) reaches Open through Pending or the
// socket, whether or not tickets are awaited.
func TestClientPendingData(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			addr := tlsServer(t, serverConfig(t, false), func(c *tls.Conn) {
				c.Write([]byte("greeting"))
				echo(c)
			})
			cfg := clientConfig(t)
			if cache {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			}
			conn := dial(t, addr)
			s, h, err := Client(conn, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRec(conn, s, h, false)
			got, err := r.recv(len("greeting"))
			if err != nil || string(got) != "greeting" {
				t.Fatalf("greeting: %q %v", got, err)
			}
			if cache && h.Tickets != 1 {
				t.Fatalf("%d tickets taken, want 1", h.Tickets)
			}
			exchange(t, r)
		})
	}
}

// TestClientCloseNotify: a server that writes and closes ends the session
// with the clean close, after its data.
func TestClientCloseNotify(t *testing.T) {
	for _, hc := range []handshakeCase{handshakeCases()[0], handshakeCases()[4]} {
		t.Run(hc.name, func(t *testing.T) {
			addr := tlsServer(t, hc.server(t), func(c *tls.Conn) {
				c.Write([]byte("bye"))
				c.Close()
			})
			conn := dial(t, addr)
			s, h, err := Client(conn, hc.client(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := newRec(conn, s, h, false).recvErr()
			var a *AlertError
			if string(plain) != "bye" || !errors.As(err, &a) || !a.Clean() || a.Class() != ClassCloseNotify {
				t.Fatalf("got %q, %v", plain, err)
			}
			if _, _, _, again := s.Open(nil, []byte{23}); !errors.As(again, &a) || !a.Clean() {
				t.Fatalf("Open after close_notify: %v", again)
			}
		})
	}
}

// TestClientTampered: a bit flipped on the wire by a proxy in between
// fails the record's authentication.
func TestClientTampered(t *testing.T) {
	for _, hc := range []handshakeCase{handshakeCases()[2], handshakeCases()[4]} {
		t.Run(hc.name, func(t *testing.T) {
			addr := tlsServer(t, hc.server(t), func(c *tls.Conn) {
				c.Write([]byte("a record to spoil"))
				echo(c)
			})
			conn := dial(t, addr)
			s, h, err := Client(conn, hc.client(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRec(conn, s, h, false)
			buf := make([]byte, 4096)
			for len(r.raw) < recordHeader || len(r.raw) < recordLen(r.raw) {
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				r.raw = append(r.raw, buf[:n]...)
			}
			r.raw[recordLen(r.raw)-1] ^= 0x80 // the tag's last byte
			_, err = r.recvErr()
			var re *RecordError
			if !errors.As(err, &re) || re.Class() != ClassBadMAC {
				t.Fatalf("tampered record: %v", err)
			}
		})
	}
}

// TestClientUnsupported: a config that leaves tlsrec no TLS 1.2 suite to
// offer a TLS 1.2 server fails before dialing anything.
func TestClientUnsupported(t *testing.T) {
	cfg := clientConfig(t)
	cfg.MaxVersion = tls.VersionTLS12
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
	var c net.Conn // never used: the config fails first
	if _, _, err := Client(c, cfg, Options{}); err == nil {
		t.Fatal("a CBC-only config was accepted")
	}
}
