package tlsrec

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
)

// Session is one connection's record layer after the handshake: the
// version, the cipher suite, each direction's key, IV, sequence number and
// (TLS 1.3) traffic secret, and what a post-handshake message split across
// records has shown so far. It holds no pointers and no AEAD objects, and
// takes 240 bytes (TestSessionSize holds it to 512). A Session is not safe
// for concurrent use: the event loop that owns the connection owns it.
type Session struct {
	in, out direction
	tickets uint32 // NewSessionTickets Open skipped
	version uint16
	suite   uint8 // index into suites
	server  bool

	// A handshake message split across records: its header as far as it
	// came (hsN bytes of hs), then the body bytes still to come.
	hs     [4]byte
	hsN    uint8
	hsLeft uint32

	// What killed the session: a refused record or the peer's alert.
	rec       RecordError
	alerted   bool
	alertCode uint8
}

// Version is the negotiated TLS version (tls.VersionTLS12 or
// tls.VersionTLS13).
func (s *Session) Version() uint16 { return s.version }

// CipherSuite is the negotiated cipher suite's ID.
func (s *Session) CipherSuite() uint16 { return suites[s.suite].id }

// Tickets is how many TLS 1.3 NewSessionTickets Open has seen and dropped:
// the ones that came after Client handed over (see Options.TicketWait).
func (s *Session) Tickets() int { return int(s.tickets) }

// Err is the error the session died of, nil while it lives.
func (s *Session) Err() error {
	switch {
	case s.alerted:
		return &AlertError{Code: s.alertCode}
	case s.rec.reason != 0:
		r := s.rec
		return &r
	}
	return nil
}

// fail kills the session with the refused record e.
func (s *Session) fail(e *RecordError) error {
	s.rec = *e
	return e
}

// Open decrypts the whole records at the start of src, the bytes read from
// the socket, and appends their application data to dst (which must not
// overlap src). consumed is how many bytes of src it used: a partial record
// at the end is left for the next call, with more bytes after it. Records
// that carry no application data are acted on: a TLS 1.3 NewSessionTicket
// is counted (Tickets) and dropped; a KeyUpdate moves the read key, and when
// it asks for an answer Open returns in reply the record to send back, which
// the caller writes after everything Seal produced before this call and
// before anything Seal produces after it (RFC 8446 section 4.6.3).
//
// An alert ends the session: close_notify as an *AlertError whose Clean()
// is true, any other as an *AlertError with its code. A record that is not
// valid for the session (bad length, version or content type, failed
// authentication, plaintext after the handshake, a TLS 1.2 renegotiation
// request, a handshake message other than the two above) is a
// *RecordError. After an error the session is dead and Open returns the
// same error again; out then holds the application data of the records
// before the one that failed.
func (s *Session) Open(dst, src []byte) (out []byte, consumed int, reply []byte, err error) {
	if err := s.Err(); err != nil {
		return dst, 0, nil, err
	}
	cs := &suites[s.suite]
	for {
		rest := src[consumed:]
		if len(rest) < recordHeader {
			return dst, consumed, reply, nil
		}
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		if e := s.checkHeader(cs, rest[0], binary.BigEndian.Uint16(rest[1:3]), n); e != nil {
			return dst, consumed, reply, s.fail(e)
		}
		if len(rest) < recordHeader+n {
			return dst, consumed, reply, nil
		}
		start := len(dst)
		var typ byte
		var e *RecordError
		dst, typ, e = s.in.open(cs, dst, rest[:recordHeader+n])
		if e != nil {
			return dst, consumed, reply, s.fail(e)
		}
		consumed += recordHeader + n
		if s.hsN != 0 && typ != recordHandshake {
			return dst[:start], consumed, reply, s.fail(&RecordError{reason: reasonInterleaved, n: uint32(typ)})
		}
		switch typ {
		case recordData:
			continue
		case recordAlert:
			if len(dst)-start != 2 {
				return dst[:start], consumed, reply, s.fail(&RecordError{reason: reasonAlertLength, n: uint32(len(dst) - start)})
			}
			s.alerted, s.alertCode = true, dst[start+1]
			return dst[:start], consumed, reply, s.Err()
		case recordHandshake:
			msgs := dst[start:]
			dst = dst[:start]
			if len(msgs) == 0 {
				return dst, consumed, reply, s.fail(&RecordError{reason: reasonEmpty, n: recordHandshake})
			}
			if reply, e = s.messages(cs, msgs, reply); e != nil {
				return dst, consumed, reply, s.fail(e)
			}
		default:
			return dst[:start], consumed, reply, s.fail(&RecordError{reason: reasonType, n: uint32(typ)})
		}
	}
}

// checkHeader refuses a record header before its body is there, so that a
// stream that is not this session's records fails at once instead of
// waiting for up to 64 KiB. After the handshake a TLS 1.3 record is always
// application_data on the outside, and a TLS 1.2 record is an alert,
// handshake or application_data record.
func (s *Session) checkHeader(cs *suite, typ byte, version uint16, n int) *RecordError {
	switch {
	case typ < recordCCS || typ > recordData:
		return &RecordError{reason: reasonType, n: uint32(typ)}
	case version != tls.VersionTLS12:
		return &RecordError{reason: reasonVersion, n: uint32(version)}
	case n > maxCiphertext:
		return &RecordError{reason: reasonLength, n: uint32(n)}
	case cs.tls13 && typ != recordData, typ == recordCCS:
		return &RecordError{reason: reasonPlaintext, n: uint32(typ)}
	case n < cs.overhead():
		return &RecordError{reason: reasonShort, n: uint32(n)}
	}
	return nil
}

// Seal appends the records carrying p to dst (which must not overlap p),
// one per 2^14 bytes, none for an empty p.
func (s *Session) Seal(dst, p []byte) []byte {
	cs := &suites[s.suite]
	for len(p) > 0 {
		n := min(len(p), maxPlaintext)
		dst = s.out.seal(cs, dst, recordData, p[:n])
		p = p[n:]
	}
	return dst
}

// CloseNotify appends a close_notify alert: the clean end of what this side
// sends.
func (s *Session) CloseNotify(dst []byte) []byte {
	return s.out.seal(&suites[s.suite], dst, recordAlert, []byte{1, 0})
}

// errKeyUpdate12 is KeyUpdate asked of a TLS 1.2 session.
var errKeyUpdate12 = errors.New("tlsrec: KeyUpdate exists only in TLS 1.3; this session is TLS 1.2")

// KeyUpdate appends a TLS 1.3 KeyUpdate record and moves the write key to
// the next traffic secret (RFC 8446 section 4.6.3). With requestPeer the
// peer is asked to update its own key too; its answer reaches Open.
func (s *Session) KeyUpdate(dst []byte, requestPeer bool) ([]byte, error) {
	cs := &suites[s.suite]
	if !cs.tls13 {
		return dst, errKeyUpdate12
	}
	msg := []byte{typeKeyUpdate, 0, 0, 1, 0}
	if requestPeer {
		msg[4] = 1
	}
	dst = s.out.seal(cs, dst, recordHandshake, msg)
	s.out.update(cs)
	return dst, nil
}
