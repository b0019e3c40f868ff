package tlsrec

import (
	"bytes"
	"crypto/tls"
	"errors"
	"reflect"
	"testing"
	"unsafe"
)

// TestSessionSize holds a Session to 512 bytes with nothing behind it: no
// pointer, slice, string, map, interface or func anywhere in it.
func TestSessionSize(t *testing.T) {
	size := unsafe.Sizeof(Session{})
	t.Logf("unsafe.Sizeof(Session{}) = %d", size)
	if size > 512 {
		t.Fatalf("Session is %d bytes, over 512", size)
	}
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, path string) {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				walk(ty.Field(i).Type, path+"."+ty.Field(i).Name)
			}
		case reflect.Array:
			walk(ty.Elem(), path+"[]")
		case reflect.Pointer, reflect.Slice, reflect.String, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
			t.Errorf("%s is a %s: a Session must point to nothing", path, ty.Kind())
		}
	}
	walk(reflect.TypeOf(Session{}), "Session")
}

// TestPairRoundTrip seals and opens every size in both directions for
// every suite, at once and one byte at a time.
func TestPairRoundTrip(t *testing.T) {
	for _, id := range allSuites() {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			c, s := pair(t, id)
			for _, n := range append([]int{0}, testMessageSizes...) {
				for _, dir := range []struct{ from, to *Session }{{c, s}, {s, c}} {
					msg := message(n)
					wire := dir.from.Seal(nil, msg)
					if want := (n + maxPlaintext - 1) / maxPlaintext; countRecords(wire) != want {
						t.Fatalf("%d bytes sealed into %d records, want %d", n, countRecords(wire), want)
					}
					got, k, reply, err := dir.to.Open(nil, wire)
					if err != nil || k != len(wire) || reply != nil || !bytes.Equal(got, msg) {
						t.Fatalf("%d bytes: Open: consumed %d of %d, reply %d bytes, err %v, equal %v", n, k, len(wire), len(reply), err, bytes.Equal(got, msg))
					}
					wire = dir.from.Seal(nil, msg)
					got = openBytewise(t, dir.to, wire)
					if !bytes.Equal(got, msg) {
						t.Fatalf("%d bytes one byte at a time: plaintext differs", n)
					}
				}
			}
		})
	}
}

// openBytewise feeds wire to s one byte more at a time.
func openBytewise(t *testing.T, s *Session, wire []byte) []byte {
	t.Helper()
	var out []byte
	start := 0
	for end := 1; end <= len(wire); end++ {
		var k int
		var err error
		out, k, _, err = s.Open(out, wire[start:end])
		if err != nil {
			t.Fatalf("Open at byte %d: %v", end, err)
		}
		start += k
	}
	if start != len(wire) {
		t.Fatalf("consumed %d of %d bytes", start, len(wire))
	}
	return out
}

func countRecords(wire []byte) int {
	n := 0
	for len(wire) >= recordHeader {
		wire = wire[recordLen(wire):]
		n++
	}
	return n
}

// TestOpenPartial: a record short of its last byte is left whole; records
// after a complete one in the same read are all opened.
func TestOpenPartial(t *testing.T) {
	c, s := pair(t, tls.TLS_AES_128_GCM_SHA256)
	wire := c.Seal(nil, []byte("one"))
	wire = c.Seal(wire, []byte("two"))
	wire = c.Seal(wire, []byte("three"))
	out, k, _, err := s.Open(nil, wire[:len(wire)-1])
	if err != nil || string(out) != "onetwo" || k != len(wire)-recordLen(wire[k:]) {
		t.Fatalf("partial: out %q consumed %d err %v", out, k, err)
	}
	out, k2, _, err := s.Open(out, wire[k:])
	if err != nil || string(out) != "onetwothree" || k+k2 != len(wire) {
		t.Fatalf("rest: out %q consumed %d err %v", out, k2, err)
	}
	if _, k, _, err := s.Open(nil, wire[:3]); err != nil || k != 0 {
		t.Fatalf("3 bytes of a header: consumed %d, err %v", k, err)
	}
}

// TestOpenPadding: a TLS 1.3 record padded with zeros after its content
// type opens to its content. (Sealing with type 0 puts the zero after
// what seal takes as the plaintext, which here already ends in the type
// and more zeros.)
func TestOpenPadding(t *testing.T) {
	for _, id := range allSuites() {
		if !suites[indexOf(id)].tls13 {
			continue
		}
		c, s := pair(t, id)
		wire := c.out.seal(&suites[c.suite], nil, 0, []byte("padded\x17\x00\x00\x00\x00"))
		out, k, _, err := s.Open(nil, wire)
		if err != nil || k != len(wire) || string(out) != "padded" {
			t.Fatalf("%s: %q consumed %d err %v", tls.CipherSuiteName(id), out, k, err)
		}
	}
}

// TestOpenExplicitNonce: a TLS 1.2 AES-GCM record whose explicit nonce is
// not the sequence number (RFC 5288 leaves it to the sender) opens.
func TestOpenExplicitNonce(t *testing.T) {
	c, s := pair(t, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
	cs := &suites[c.suite]
	p := []byte("any nonce will do")
	explicit := []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
	nonce := append(append([]byte{}, c.out.iv[:4]...), explicit...)
	ad := make([]byte, 13)
	c.out.ad12(ad, recordData, len(p))
	body := cs.aead(c.out.key[:cs.keyLen]).Seal(append([]byte{}, explicit...), nonce, p, ad)
	wire := append([]byte{recordData, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
	out, _, _, err := s.Open(nil, wire)
	if err != nil || !bytes.Equal(out, p) {
		t.Fatalf("%q, %v", out, err)
	}
}

// TestOpenErrors: each kind of bad record fails with its class, and the
// session stays dead.
func TestOpenErrors(t *testing.T) {
	type tc struct {
		name  string
		id    uint16
		wire  func(c *Session) []byte
		class string
		check func(t *testing.T, err error)
	}
	sealed := func(typ byte, p []byte) func(*Session) []byte {
		return func(c *Session) []byte { return c.out.seal(&suites[c.suite], nil, typ, p) }
	}
	tampered := func(at func(len int) int) func(*Session) []byte {
		return func(c *Session) []byte {
			w := c.Seal(nil, []byte("hello, world"))
			w[at(len(w))] ^= 1
			return w
		}
	}
	var cases []tc
	for _, id := range allSuites() {
		name := tls.CipherSuiteName(id)
		cases = append(cases,
			tc{name + "/tag", id, tampered(func(n int) int { return n - 1 }), ClassBadMAC, nil},
			tc{name + "/body", id, tampered(func(n int) int { return recordHeader + 9 }), ClassBadMAC, nil},
			tc{name + "/close_notify", id, func(c *Session) []byte { return c.CloseNotify(nil) }, ClassCloseNotify, func(t *testing.T, err error) {
				var a *AlertError
				if !errors.As(err, &a) || !a.Clean() {
					t.Errorf("close_notify: %v is not a clean *AlertError", err)
				}
			}},
			tc{name + "/alert", id, sealed(recordAlert, []byte{2, 40}), ClassAlert, func(t *testing.T, err error) {
				var a *AlertError
				if !errors.As(err, &a) || a.Code != 40 || a.Clean() || a.Name() != "handshake_failure" {
					t.Errorf("alert 40: %v", err)
				}
			}},
			tc{name + "/alert-length", id, sealed(recordAlert, []byte{2, 40, 0}), ClassBadRecord, nil},
			tc{name + "/empty-handshake", id, sealed(recordHandshake, nil), ClassBadRecord, nil},
			tc{name + "/length", id, func(*Session) []byte { return []byte{23, 3, 3, 0x41, 0x01} }, ClassBadRecord, nil},
			tc{name + "/short", id, func(*Session) []byte { return []byte{23, 3, 3, 0, 1, 0} }, ClassBadRecord, nil},
			tc{name + "/version", id, func(*Session) []byte { return []byte{23, 3, 1, 0, 40} }, ClassBadRecord, nil},
			tc{name + "/type", id, func(*Session) []byte { return []byte{24, 3, 3, 0, 40} }, ClassBadRecord, nil},
			tc{name + "/ccs", id, func(*Session) []byte { return []byte{20, 3, 3, 0, 1, 1} }, ClassBadRecord, nil},
		)
		if suites[indexOf(id)].tls13 {
			cases = append(cases,
				tc{name + "/header-length", id, tampered(func(int) int { return 4 }), ClassBadMAC, nil}, // 29 bytes become 28
				tc{name + "/plaintext-alert", id, func(*Session) []byte { return []byte{21, 3, 3, 0, 2, 2, 40} }, ClassBadRecord, nil},
				tc{name + "/inner-type", id, sealed(99, []byte("x")), ClassBadRecord, nil},
				tc{name + "/all-padding", id, sealed(0, nil), ClassBadRecord, nil},
				tc{name + "/certificate-request", id, sealed(recordHandshake, []byte{13, 0, 0, 0}), ClassBadRecord, nil},
				tc{name + "/key-update-value", id, sealed(recordHandshake, []byte{typeKeyUpdate, 0, 0, 1, 2}), ClassBadRecord, nil},
				tc{name + "/key-update-length", id, sealed(recordHandshake, []byte{typeKeyUpdate, 0, 0, 2, 0, 0}), ClassBadRecord, nil},
				tc{name + "/key-update-not-last", id, sealed(recordHandshake, []byte{typeKeyUpdate, 0, 0, 1, 0, 4, 0, 0, 0}), ClassBadRecord, nil},
				tc{name + "/interleaved", id, func(c *Session) []byte {
					w := c.out.seal(&suites[c.suite], nil, recordHandshake, []byte{typeNewSessionTicket, 0})
					return c.Seal(w, []byte("data"))
				}, ClassBadRecord, nil},
			)
		} else {
			cases = append(cases,
				tc{name + "/header-type", id, tampered(func(int) int { return 0 }), ClassBadMAC, nil}, // in the additional data
				tc{name + "/hello-request", id, sealed(recordHandshake, []byte{typeHelloRequest, 0, 0, 0}), ClassRenegotiation, nil},
				tc{name + "/ticket", id, sealed(recordHandshake, []byte{typeNewSessionTicket, 0, 0, 0}), ClassBadRecord, nil},
			)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, sv := pair(t, c.id)
			wire := sv.Seal(nil, []byte("before"))
			wire = append(wire, c.wire(sv)...)
			out, _, _, err := cl.Open(nil, wire)
			if string(out) != "before" {
				t.Errorf("plaintext before the failure: %q", out)
			}
			classed, ok := err.(interface {
				Class() string
				Fix() string
			})
			if !ok {
				t.Fatalf("error %v (%T) has no Class and Fix", err, err)
			}
			if classed.Class() != c.class || classed.Fix() == "" {
				t.Fatalf("error %q: class %s, want %s", err, classed.Class(), c.class)
			}
			if c.check != nil {
				c.check(t, err)
			}
			t.Logf("%s: %v", classed.Class(), err)
			_, k, _, again := cl.Open(nil, sv.Seal(nil, []byte("after")))
			if again == nil || again.Error() != err.Error() || k != 0 {
				t.Fatalf("after %v, Open returned consumed %d, err %v", err, k, again)
			}
		})
	}
}

func indexOf(id uint16) int {
	for i := range suites {
		if suites[i].id == id {
			return i
		}
	}
	return -1
}

// TestOpenTLS12ServerRenegotiation: a TLS 1.2 client asking to renegotiate
// (a ClientHello after the handshake) fails the server's Open.
func TestOpenTLS12ServerRenegotiation(t *testing.T) {
	cl, sv := pair(t, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
	wire := cl.out.seal(&suites[cl.suite], nil, recordHandshake, []byte{typeClientHello, 0, 0, 0})
	_, _, _, err := sv.Open(nil, wire)
	var re *RecordError
	if !errors.As(err, &re) || re.Class() != ClassRenegotiation {
		t.Fatalf("ClientHello after the handshake: %v", err)
	}
}

// TestSplitMessages: a ticket split over three records is skipped and
// counted, a KeyUpdate split over two is acted on, and a server refuses a
// ticket.
func TestSplitMessages(t *testing.T) {
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			cl, sv := pair(t, id)
			cs := &suites[sv.suite]
			ticket := append([]byte{typeNewSessionTicket, 0, 0, 20}, make([]byte, 20)...)
			var wire []byte
			wire = sv.out.seal(cs, wire, recordHandshake, ticket[:2])
			wire = sv.out.seal(cs, wire, recordHandshake, ticket[2:10])
			wire = sv.out.seal(cs, wire, recordHandshake, append(ticket[10:], ticket...)) // the end of one, a whole second
			wire = sv.out.seal(cs, wire, recordHandshake, []byte{typeKeyUpdate, 0})
			wire = sv.out.seal(cs, wire, recordHandshake, []byte{0, 1, 1}) // update_requested
			sv.out.update(cs)
			wire = sv.Seal(wire, []byte("after the update"))
			out, k, reply, err := cl.Open(nil, wire)
			if err != nil || k != len(wire) || string(out) != "after the update" || cl.Tickets() != 2 {
				t.Fatalf("Open: %q consumed %d/%d tickets %d err %v", out, k, len(wire), cl.Tickets(), err)
			}
			if len(reply) == 0 {
				t.Fatal("no reply to update_requested")
			}
			out, _, reply2, err := sv.Open(nil, append(reply, cl.Seal(nil, []byte("answered"))...))
			if err != nil || string(out) != "answered" || reply2 != nil {
				t.Fatalf("the server opening the answer: %q reply %d err %v", out, len(reply2), err)
			}
			_, _, _, err = sv.Open(nil, cl.out.seal(cs, nil, recordHandshake, ticket))
			if re := (*RecordError)(nil); !errors.As(err, &re) || re.Class() != ClassBadRecord {
				t.Fatalf("a server opening a ticket: %v", err)
			}
		})
	}
}

// TestKeyUpdatePair: KeyUpdate with and without a request, and on a TLS
// 1.2 session.
func TestKeyUpdatePair(t *testing.T) {
	cl, sv := pair(t, tls.TLS_CHACHA20_POLY1305_SHA256)
	for round := range 3 {
		wire, err := cl.KeyUpdate(nil, round%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		wire = cl.Seal(wire, []byte("x"))
		out, _, reply, err := sv.Open(nil, wire)
		if err != nil || string(out) != "x" || (len(reply) > 0) != (round%2 == 0) {
			t.Fatalf("round %d: %q reply %d err %v", round, out, len(reply), err)
		}
		out, _, _, err = cl.Open(nil, append(reply, sv.Seal(nil, []byte("y"))...))
		if err != nil || string(out) != "y" {
			t.Fatalf("round %d back: %q err %v", round, out, err)
		}
	}
	c12, _ := pair(t, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
	if _, err := c12.KeyUpdate(nil, true); err == nil {
		t.Fatal("KeyUpdate on TLS 1.2 did not fail")
	}
}

// FuzzOpen: whatever bytes reach Open of a live session, it does not
// panic; it fails, or consumes whole records and leaves at most a partial
// one; and once failed it fails the same way with nothing consumed. With
// sealed, data is instead a series of (content type, length, plaintext)
// that the peer seals into records, so that what is inside valid records
// (post-handshake messages split anywhere, alerts, padding) is explored
// too.
func FuzzOpen(f *testing.F) {
	ids := allSuites()
	clients := make([]Session, len(ids))
	servers := make([]Session, len(ids))
	for i, id := range ids {
		cl, sv := pair(f, id)
		clients[i], servers[i] = *cl, *sv
		seed := sv.Seal(nil, []byte("seed"))
		seed = sv.out.seal(&suites[sv.suite], seed, recordHandshake, []byte{typeNewSessionTicket, 0, 0, 1, 0})
		f.Add(uint8(i), false, seed)
		f.Add(uint8(i), false, seed[:len(seed)-3])
		f.Add(uint8(i), false, sv.CloseNotify(nil))
		f.Add(uint8(i), true, []byte{recordHandshake, 3, typeKeyUpdate, 0, 0, recordHandshake, 2, 1, 1, recordData, 2, 'o', 'k'})
		f.Add(uint8(i), true, []byte{recordHandshake, 2, typeNewSessionTicket, 0, recordHandshake, 4, 0, 2, 7, 7, recordAlert, 2, 1, 0})
	}
	f.Add(uint8(0), false, []byte{23, 3, 3, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, which uint8, sealed bool, data []byte) {
		s := clients[int(which)%len(clients)]
		if sealed {
			peer := servers[int(which)%len(servers)]
			data = sealAll(&peer, data)
		}
		_, k, _, err := s.Open(nil, data)
		if k < 0 || k > len(data) {
			t.Fatalf("consumed %d of %d", k, len(data))
		}
		if err == nil {
			rest := data[k:]
			if len(rest) >= recordHeader && len(rest) >= recordLen(rest) {
				t.Fatalf("no error, yet a whole record of %d bytes left unconsumed", recordLen(rest))
			}
			return
		}
		_, k2, _, err2 := s.Open(nil, data)
		if err2 == nil || err2.Error() != err.Error() || k2 != 0 {
			t.Fatalf("after %v, again: consumed %d err %v", err, k2, err2)
		}
	})
}

// sealAll seals the (type, length, plaintext) series in data with peer.
func sealAll(peer *Session, data []byte) []byte {
	cs := &suites[peer.suite]
	var wire []byte
	for len(data) >= 2 {
		typ, n := data[0], min(int(data[1]), len(data)-2)
		wire = peer.out.seal(cs, wire, typ, data[2:2+n])
		data = data[2+n:]
	}
	return wire
}

// BenchmarkOpenSeal seals and opens one 64-byte record per suite.
func BenchmarkOpenSeal(b *testing.B) {
	msg := message(64)
	for _, id := range allSuites() {
		b.Run(tls.CipherSuiteName(id), func(b *testing.B) {
			cl, sv := pair(b, id)
			wire := make([]byte, 0, 256)
			out := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				wire = cl.Seal(wire[:0], msg)
				var err error
				out, _, _, err = sv.Open(out[:0], wire)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
