package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"testing"

	"github.com/imtool/imtool/internal/mqtt/mqtttest"
)

// TestMosquitto: the Client speaks MQTT to mosquitto's TLS listener
// (OpenSSL underneath, which picks AES-256-GCM) in TLS 1.3 and 1.2:
// CONNECT and CONNACK, PINGREQ and PINGRESP, a resumed second connection,
// and the broker's close_notify after DISCONNECT.
func TestMosquitto(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true})
	connect := []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 6, 't', 'l', 's', 'r', 'e', 'c'}
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			cfg := b.TLSConfig()
			cfg.MaxVersion = version
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i := range 2 {
				conn := dial(t, b.TLSAddr)
				s, h, err := Client(conn, cfg, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if s.Version() != version || h.State.DidResume != (i == 1) {
					t.Fatalf("connection %d: %s, resumed %v", i, tls.VersionName(s.Version()), h.State.DidResume)
				}
				r := newRec(conn, s, h, i == 1)
				for _, x := range []struct{ send, want []byte }{
					{connect, []byte{0x20, 2, 0, 0}},
					{[]byte{0xc0, 0}, []byte{0xd0, 0}},
				} {
					if err := r.send(x.send); err != nil {
						t.Fatal(err)
					}
					got, err := r.recv(len(x.want))
					if err != nil || !bytes.Equal(got, x.want) {
						t.Fatalf("connection %d: sent %x, got %x, %v", i, x.send, got, err)
					}
				}
				r.send([]byte{0xe0, 0}) // DISCONNECT
				_, err = r.recvErr()
				var a *AlertError
				if !errors.As(err, &a) || !a.Clean() {
					t.Fatalf("connection %d: after DISCONNECT: %v", i, err)
				}
				t.Logf("connection %d: %s, tickets taken %d, ended with %v", i, tls.CipherSuiteName(s.CipherSuite()), h.Tickets, err)
			}
		})
	}
}
