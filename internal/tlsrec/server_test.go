package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
)

// commandKeyUpdate, received by serveEcho, makes it send a KeyUpdate that
// asks the peer to update too, before the echo.
const commandKeyUpdate = "KEYUPDATE"

// serveEcho echoes through r until Open or the conn fails; the peer's
// close_notify is a clean end (nil).
func serveEcho(r *rec) error {
	buf := make([]byte, 32<<10)
	for {
		err := r.open()
		var a *AlertError
		if errors.As(err, &a) && a.Clean() {
			return nil
		}
		if err != nil {
			return err
		}
		if len(r.plain) > 0 {
			var wire []byte
			if string(r.plain) == commandKeyUpdate {
				if wire, err = r.s.KeyUpdate(nil, true); err != nil {
					return err
				}
			}
			if _, err := r.conn.Write(r.s.Seal(wire, r.plain)); err != nil {
				return err
			}
			r.plain = r.plain[:0]
		}
		n, err := r.conn.Read(buf)
		r.raw = append(r.raw, buf[:n]...)
		if err != nil {
			return err
		}
	}
}

// ourServer runs Server and serveEcho on each connection to a listener on
// 127.0.0.1; each connection's handover and outcome go to the channel.
type served struct {
	h       Handover
	updates int // KeyUpdates the server's Open took
	err     error
}

func ourServer(t *testing.T, cfg *tls.Config, bytewise bool) (string, chan served) {
	done := make(chan served, 16)
	addr := listen(t, func(c net.Conn) {
		s, h, err := Server(c, cfg)
		if err != nil {
			done <- served{err: err}
			return
		}
		r := newRec(c, s, h, bytewise)
		err = serveEcho(r)
		done <- served{h: h, updates: r.updates, err: err}
	})
	return addr, done
}

// exchangeTLS sends each size through a crypto/tls conn and expects it
// echoed.
func exchangeTLS(t *testing.T, c *tls.Conn) {
	t.Helper()
	for _, n := range testMessageSizes {
		msg := message(n)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("%d bytes: write: %v", n, err)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("%d bytes: read: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: the echo differs", n)
		}
	}
}

// dialTLS is a crypto/tls client connection to addr.
func dialTLS(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	tc := tls.Client(dial(t, addr), cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// closeAndWait closes c (close_notify) and expects the server's echo loop
// to have ended cleanly.
func closeAndWait(t *testing.T, c *tls.Conn, done chan served) served {
	t.Helper()
	c.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	return r
}

// TestServer runs the Server against a crypto/tls client for every suite,
// each message size both ways, Open fed at once and a byte at a time.
func TestServer(t *testing.T) {
	for _, hc := range handshakeCases() {
		for _, bytewise := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bytewise=%v", hc.name, bytewise), func(t *testing.T) {
				addr, done := ourServer(t, hc.server(t), bytewise)
				c := dialTLS(t, addr, hc.client(t))
				st := c.ConnectionState()
				if st.Version != hc.version || st.CipherSuite != hc.want {
					t.Fatalf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				exchangeTLS(t, c)
				closeAndWait(t, c, done)
			})
		}
	}
}

// TestServerResume: a crypto/tls client resumes on the second and third
// connection, in TLS 1.3 (whose ticket crypto/tls sends under the
// application key during the handshake) and TLS 1.2 (whose ticket carries
// the master secret tlsrec needs), for every TLS 1.2 suite.
func TestServerResume(t *testing.T) {
	for _, hc := range resumeCases() {
		t.Run(hc.name, func(t *testing.T) {
			addr, done := ourServer(t, hc.server(t), false)
			cfg := hc.client(t)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, resume := range []bool{false, true, true} {
				c := dialTLS(t, addr, cfg)
				exchangeTLS(t, c)
				r := closeAndWait(t, c, done)
				if c.ConnectionState().DidResume != resume || r.h.State.DidResume != resume {
					t.Fatalf("connection %d: DidResume client %v, server %v, want %v", i, c.ConnectionState().DidResume, r.h.State.DidResume, resume)
				}
			}
		})
	}
}

// TestServerGetConfigForClient: the config GetConfigForClient returns is
// run through the same clone, and its sessions resume.
func TestServerGetConfigForClient(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			own := serverConfig(t, true)
			own.MaxVersion = version
			addr, done := ourServer(t, &tls.Config{
				GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return own, nil },
			}, false)
			cfg := clientConfig(t)
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, resume := range []bool{false, true} {
				c := dialTLS(t, addr, cfg)
				exchangeTLS(t, c)
				closeAndWait(t, c, done)
				if c.ConnectionState().DidResume != resume || c.ConnectionState().Version != version {
					t.Fatalf("connection %d: %s, DidResume %v", i, tls.VersionName(c.ConnectionState().Version), c.ConnectionState().DidResume)
				}
			}
		})
	}
}

// TestClientServer: our Client against our Server, every size both ways,
// and the client's close_notify ends the server's loop cleanly.
func TestClientServer(t *testing.T) {
	addr, done := ourServer(t, serverConfig(t, false), false)
	conn := dial(t, addr)
	s, h, err := Client(conn, clientConfig(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRec(conn, s, h, false)
	exchange(t, r)
	if _, err := conn.Write(s.CloseNotify(nil)); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
}

// TestServerClientCertificate: with a client certificate asked for, a TLS
// 1.3 server sends its ticket only after reading the client's certificate,
// no longer in its first flight; the write sequence number still counts
// it, and the client resumes.
func TestServerClientCertificate(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			srv := serverConfig(t, false)
			srv.MaxVersion = version
			srv.ClientAuth = tls.RequireAndVerifyClientCert
			srv.ClientCAs = certPool
			addr, done := ourServer(t, srv, false)
			cfg := clientConfig(t)
			cfg.Certificates = []tls.Certificate{rsaCert}
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, resume := range []bool{false, true} {
				c := dialTLS(t, addr, cfg)
				exchangeTLS(t, c)
				r := closeAndWait(t, c, done)
				if r.h.State.DidResume != resume || len(r.h.State.PeerCertificates) == 0 {
					t.Fatalf("connection %d: DidResume %v, %d peer certificates", i, r.h.State.DidResume, len(r.h.State.PeerCertificates))
				}
			}
		})
	}
}

// TestHelloRetryRequest: a server that accepts only P-256 makes the
// client's first key share (X25519MLKEM768) useless, so the handshake
// takes a HelloRetryRequest and a second ClientHello; Client and Server
// run on after it.
func TestHelloRetryRequest(t *testing.T) {
	srv := serverConfig(t, false)
	srv.CurvePreferences = []tls.CurveID{tls.CurveP256}
	t.Run("Client", func(t *testing.T) {
		addr := tlsServer(t, srv, func(c *tls.Conn) { echo(c) })
		conn := dial(t, addr)
		s, h, err := Client(conn, clientConfig(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !h.State.HelloRetryRequest {
			t.Fatal("no HelloRetryRequest")
		}
		exchange(t, newRec(conn, s, h, false))
	})
	t.Run("Server", func(t *testing.T) {
		addr, done := ourServer(t, srv, false)
		c := dialTLS(t, addr, clientConfig(t))
		if !c.ConnectionState().HelloRetryRequest {
			t.Fatal("no HelloRetryRequest")
		}
		exchangeTLS(t, c)
		closeAndWait(t, c, done)
	})
}

// lazyConn holds what is written until the next Read or flush, so that a
// handshake's last flight and the data after it leave in one segment.
// After flush it holds nothing more.
type lazyConn struct {
	net.Conn
	held    []byte
	flushed bool
}

func (c *lazyConn) Write(p []byte) (int, error) {
	if c.flushed {
		return c.Conn.Write(p)
	}
	c.held = append(c.held, p...)
	return len(p), nil
}

func (c *lazyConn) Read(p []byte) (int, error) {
	if !c.flushed {
		if _, err := c.Conn.Write(c.held); err != nil {
			return 0, err
		}
		c.held = c.held[:0]
	}
	return c.Conn.Read(p)
}

func (c *lazyConn) flush() error {
	c.flushed = true
	_, err := c.Conn.Write(c.held)
	return err
}

// TestServerPending: data a client sends in the same segment as its
// Finished is read with the Finished, handed over in Pending, and opened
// first.
func TestServerPending(t *testing.T) {
	addr, done := ourServer(t, serverConfig(t, false), false)
	lazy := &lazyConn{Conn: dial(t, addr)}
	c := tls.Client(lazy, clientConfig(t))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("right behind the Finished")); err != nil {
		t.Fatal(err)
	}
	if err := lazy.flush(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("right behind the Finished"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "right behind the Finished" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	c.Close()
	r := <-done
	if r.err != nil || len(r.h.Pending) == 0 {
		t.Fatalf("server: %d bytes pending, %v", len(r.h.Pending), r.err)
	}
}
