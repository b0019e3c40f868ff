package tlsrec

import (
	"bytes"
	"crypto/tls"
	"io"
	"testing"
)

// keyUpdateCases are the TLS 1.3 handshakes crypto/tls can be made to run.
func keyUpdateCases() []handshakeCase {
	var cases []handshakeCase
	for _, hc := range handshakeCases() {
		if hc.version == tls.VersionTLS13 && !hc.rsa {
			cases = append(cases, hc)
		}
	}
	return cases
}

// TestKeyUpdateOurs: between our Client and our Server, each side updates
// its key with and without asking the other to, and data flows after each.
func TestKeyUpdateOurs(t *testing.T) {
	for _, hc := range keyUpdateCases() {
		t.Run(hc.name, func(t *testing.T) {
			addr, done := ourServer(t, hc.server(t), false)
			conn := dial(t, addr)
			s, h, err := Client(conn, hc.client(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRec(conn, s, h, false)
			for round := range 4 {
				var wire []byte
				msg := []byte("after a client key update")
				switch round {
				case 0, 1: // the client updates, asking the server to or not
					if wire, err = s.KeyUpdate(nil, round == 0); err != nil {
						t.Fatal(err)
					}
				case 2: // the server updates and asks the client to
					msg = []byte(commandKeyUpdate)
				}
				wire = s.Seal(wire, msg)
				if _, err := conn.Write(wire); err != nil {
					t.Fatal(err)
				}
				got, err := r.recv(len(msg))
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("round %d: %q, %v", round, got, err)
				}
			}
			exchange(t, r)
			conn.Write(s.CloseNotify(nil))
			sr := <-done
			if sr.err != nil {
				t.Fatalf("server: %v", sr.err)
			}
			// The server took the client's two updates and its answer to
			// the server's; the client the server's answer and update.
			if sr.updates != 3 || r.updates != 2 {
				t.Fatalf("read key updates: server %d, client %d; want 3, 2", sr.updates, r.updates)
			}
		})
	}
}

// TestKeyUpdateWithCryptoTLSServer: a crypto/tls server takes our
// KeyUpdate, answers the one that asks, and Open follows its new key.
func TestKeyUpdateWithCryptoTLSServer(t *testing.T) {
	for _, hc := range keyUpdateCases() {
		t.Run(hc.name, func(t *testing.T) {
			addr := tlsServer(t, hc.server(t), func(c *tls.Conn) { echo(c) })
			conn := dial(t, addr)
			s, h, err := Client(conn, hc.client(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRec(conn, s, h, true)
			for round := range 3 {
				wire, err := s.KeyUpdate(nil, round != 1)
				if err != nil {
					t.Fatal(err)
				}
				inBefore := s.in
				if _, err := conn.Write(s.Seal(wire, []byte("ping"))); err != nil {
					t.Fatal(err)
				}
				if got, err := r.recv(4); err != nil || string(got) != "ping" {
					t.Fatalf("round %d: %q, %v", round, got, err)
				}
				if updated := s.in.secret != inBefore.secret; updated != (round != 1) {
					t.Fatalf("round %d: read key updated %v", round, updated)
				}
			}
			exchange(t, r)
		})
	}
}

// TestKeyUpdateWithCryptoTLSClient: a crypto/tls client takes our
// KeyUpdate that asks for one back, answers it, and our Server follows
// its new key.
func TestKeyUpdateWithCryptoTLSClient(t *testing.T) {
	for _, hc := range keyUpdateCases() {
		t.Run(hc.name, func(t *testing.T) {
			addr, done := ourServer(t, hc.server(t), false)
			c := dialTLS(t, addr, hc.client(t))
			for range 2 {
				for _, msg := range []string{commandKeyUpdate, "after the client's answer"} {
					if _, err := c.Write([]byte(msg)); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
						t.Fatalf("%q: got %q, %v", msg, got, err)
					}
				}
			}
			exchangeTLS(t, c)
			if r := closeAndWait(t, c, done); r.updates != 2 {
				t.Fatalf("the server's read key moved %d times, want 2 (crypto/tls answers each request)", r.updates)
			}
		})
	}
}
