package tlsrec

import (
	"crypto/tls"
	"fmt"
)

// Error classes, for counting the errors of a swarm: each error of this
// package has a Class() that is one of them and a Fix() for a person at a
// terminal.
const (
	ClassCloseNotify   = "tls_close_notify"  // the peer closed the session cleanly
	ClassAlert         = "tls_alert"         // the peer aborted with an alert
	ClassBadRecord     = "tls_bad_record"    // bytes that are not a valid record of this session
	ClassBadMAC        = "tls_bad_mac"       // a record failed authentication
	ClassRenegotiation = "tls_renegotiation" // the peer asked to renegotiate TLS 1.2
	ClassUnsupported   = "tls_unsupported"   // the handshake chose what tlsrec cannot run
)

// Classes lists every error class, in a fixed order: a swarm counts them
// by index.
func Classes() []string {
	return []string{ClassCloseNotify, ClassAlert, ClassBadRecord, ClassBadMAC, ClassRenegotiation, ClassUnsupported}
}

// Fix is the fix for an error class, for a person reading a count of them
// (an error's own Fix says more about that one error); "" for a class that
// is not this package's.
func Fix(class string) string { return classFixes[class] }

var classFixes = map[string]string{
	ClassCloseNotify:   (&AlertError{}).Fix(),
	ClassAlert:         "the peer aborted the TLS session with an alert (the example names it): see the peer's log for the reason",
	ClassBadRecord:     (&RecordError{}).Fix(),
	ClassBadMAC:        (&RecordError{reason: reasonMAC}).Fix(),
	ClassRenegotiation: (&RecordError{reason: reasonRenegotiation}).Fix(),
	ClassUnsupported:   (&UnsupportedError{}).Fix(),
}

// AlertError is an alert the peer sent. Code 0 is close_notify: the peer
// ended the session cleanly.
type AlertError struct {
	Code uint8
}

func (e *AlertError) Error() string {
	if e.Clean() {
		return "tls: the peer closed the session (close_notify)"
	}
	return fmt.Sprintf("tls: the peer aborted the session with alert %d (%s)", e.Code, e.Name())
}

// Clean tells whether the alert is close_notify, the peer's clean close.
func (e *AlertError) Clean() bool { return e.Code == 0 }

// Name is the alert's name in RFC 8446 and RFC 5246.
func (e *AlertError) Name() string {
	if n, ok := alertNames[e.Code]; ok {
		return n
	}
	return "unknown alert"
}

// Class is ClassCloseNotify for close_notify, else ClassAlert.
func (e *AlertError) Class() string {
	if e.Clean() {
		return ClassCloseNotify
	}
	return ClassAlert
}

// Fix says what to look at.
func (e *AlertError) Fix() string {
	switch e.Code {
	case 0:
		return "the peer ended the TLS session on purpose: check its idle timeout and its log for why it closed"
	case 10, 20, 22, 50, 51:
		return fmt.Sprintf("the peer could not read the records this side sent (%s): something between the two alters bytes, or it is a bug in tlsrec; report it with the peer's TLS stack and the cipher suite", e.Name())
	case 90:
		return "the peer canceled the session (user_canceled): see its log"
	}
	return fmt.Sprintf("the peer aborted the TLS session with %s: see its log for the reason", e.Name())
}

var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
	42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
	46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied",
	50: "decode_error", 51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
	71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
	100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
	111: "certificate_unobtainable", 112: "unrecognized_name", 113: "bad_certificate_status_response",
	114: "bad_certificate_hash_value", 115: "unknown_psk_identity", 116: "certificate_required",
	120: "no_application_protocol", 121: "ech_required",
}

// reason is why a record was refused.
type reason uint8

const (
	reasonLength        reason = iota + 1 // n: the record's length, over the maximum
	reasonShort                           // n: the record's length, under the AEAD's overhead
	reasonVersion                         // n: the record's version, not 0x0303
	reasonType                            // n: a content type TLS does not define
	reasonPlaintext                       // n: the content type of a record sent in the clear after the handshake
	reasonMAC                             // the record failed authentication
	reasonOverflow                        // n: the plaintext's length, over 2^14 (+1 in TLS 1.3)
	reasonNoType                          // a TLS 1.3 record that is all padding
	reasonAlertLength                     // n: the length of an alert record, not 2
	reasonEmpty                           // n: the content type of an empty record that may not be empty
	reasonInterleaved                     // n: the content type of a record inside a split handshake message
	reasonMessage                         // n: a handshake message type tlsrec does not take after the handshake
	reasonKeyUpdate                       // n: a KeyUpdate's request_update, not 0 or 1 (or 256 + a bad length)
	reasonKeyChange                       // a KeyUpdate with more bytes after it in its record
	reasonRenegotiation                   // n: the handshake message type that asks to renegotiate
)

// RecordError is a record tlsrec refused. The session that returned it is
// dead: Open returns it again on every call.
type RecordError struct {
	reason reason
	n      uint32
}

func (e *RecordError) Error() string {
	n := e.n
	switch e.reason {
	case reasonLength:
		return fmt.Sprintf("tls: a record of %d bytes, over the %d TLS allows (2^14+256): the peer does not speak TLS here, or the stream lost its place", n, maxCiphertext)
	case reasonShort:
		return fmt.Sprintf("tls: a record of %d bytes, too short to hold an encrypted record", n)
	case reasonVersion:
		return fmt.Sprintf("tls: a record with version %#04x instead of 0x0303", n)
	case reasonType:
		return fmt.Sprintf("tls: a record of content type %d, which TLS does not define", n)
	case reasonPlaintext:
		return fmt.Sprintf("tls: a %s record after the handshake, where only encrypted application_data (and, in TLS 1.2, alert and handshake) records may come", typeName(n))
	case reasonMAC:
		return "tls: a record failed authentication (bad record MAC): its bytes were altered, or the two sides disagree on keys or sequence numbers"
	case reasonOverflow:
		return fmt.Sprintf("tls: a record decrypted to %d bytes, over the 2^14 TLS allows", n)
	case reasonNoType:
		return "tls: a TLS 1.3 record with no content type (all padding)"
	case reasonAlertLength:
		return fmt.Sprintf("tls: an alert record of %d bytes instead of 2", n)
	case reasonEmpty:
		return fmt.Sprintf("tls: an empty %s record", typeName(n))
	case reasonInterleaved:
		return fmt.Sprintf("tls: a %s record in the middle of a handshake message split across records", typeName(n))
	case reasonMessage:
		return fmt.Sprintf("tls: handshake message type %d after the handshake, which this side does not take", n)
	case reasonKeyUpdate:
		if n >= 256 {
			return fmt.Sprintf("tls: a KeyUpdate of %d bytes instead of 1", n-256)
		}
		return fmt.Sprintf("tls: a KeyUpdate with request_update %d (only 0 and 1 exist)", n)
	case reasonKeyChange:
		return "tls: more handshake data after a KeyUpdate in the same record (a message may not span a key change)"
	case reasonRenegotiation:
		return fmt.Sprintf("tls: the peer asked to renegotiate TLS 1.2 (handshake message type %d), which tlsrec does not do", n)
	}
	return fmt.Sprintf("tls: refused record (reason %d)", e.reason)
}

// Class is ClassBadMAC for a record that failed authentication,
// ClassRenegotiation for a renegotiation request, else ClassBadRecord.
func (e *RecordError) Class() string {
	switch e.reason {
	case reasonMAC:
		return ClassBadMAC
	case reasonRenegotiation:
		return ClassRenegotiation
	}
	return ClassBadRecord
}

// Fix says what to look at.
func (e *RecordError) Fix() string {
	switch e.reason {
	case reasonMAC:
		return "a record failed authentication: something between the client and the server alters bytes (a middlebox, a proxy that is not TLS-aware, broken offload), or it is a bug in tlsrec; report it with the peer's TLS stack and the cipher suite"
	case reasonRenegotiation:
		return "the peer asked to renegotiate TLS 1.2, which the event-loop TLS does not do: turn renegotiation off on the server (it is off in nginx, Go and mosquitto unless configured), or offer TLS 1.3"
	}
	return "the peer sent bytes that are not a valid TLS record of this session: check the port speaks TLS end to end (no plaintext proxy or second protocol on it); the error names the record's fault"
}

// UnsupportedError is a handshake that chose a version or cipher suite
// tlsrec cannot run.
type UnsupportedError struct {
	Version, Suite uint16
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("tls: the handshake chose %s with %s, which tlsrec does not run (it runs %s)",
		tls.VersionName(e.Version), tls.CipherSuiteName(e.Suite), suiteNames())
}

// Class is ClassUnsupported.
func (e *UnsupportedError) Class() string { return ClassUnsupported }

// Fix says what to change.
func (e *UnsupportedError) Fix() string {
	return "the peer chose a TLS version or cipher suite the event-loop TLS lacks: it runs TLS 1.3 and TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305; enable one of those on the server"
}

// typeName names a record content type.
func typeName(t uint32) string {
	switch t {
	case recordCCS:
		return "change_cipher_spec"
	case recordAlert:
		return "alert"
	case recordHandshake:
		return "handshake"
	case recordData:
		return "application_data"
	}
	return fmt.Sprintf("type-%d", t)
}
