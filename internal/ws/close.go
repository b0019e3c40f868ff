package ws

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// Close codes (RFC 6455 §7.4.1, and 1012-1014 from the IANA registry).
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseUnsupported     uint16 = 1003
	CloseNoStatus        uint16 = 1005 // never on the wire: a close frame without a code
	CloseAbnormal        uint16 = 1006 // never on the wire: no close frame at all
	CloseInvalidData     uint16 = 1007
	ClosePolicyViolation uint16 = 1008
	CloseMessageTooBig   uint16 = 1009
	CloseMandatoryExt    uint16 = 1010
	CloseInternalError   uint16 = 1011
	CloseServiceRestart  uint16 = 1012
	CloseTryAgainLater   uint16 = 1013
	CloseBadGateway      uint16 = 1014
)

// CloseName is a close code with its meaning: "1008 policy violation".
func CloseName(code uint16) string {
	s := strconv.Itoa(int(code))
	switch code {
	case CloseNormal:
		return s + " normal closure"
	case CloseGoingAway:
		return s + " going away"
	case CloseProtocolError:
		return s + " protocol error"
	case CloseUnsupported:
		return s + " unsupported data"
	case CloseNoStatus:
		return s + " no status"
	case CloseAbnormal:
		return s + " abnormal closure"
	case CloseInvalidData:
		return s + " invalid payload data"
	case ClosePolicyViolation:
		return s + " policy violation"
	case CloseMessageTooBig:
		return s + " message too big"
	case CloseMandatoryExt:
		return s + " mandatory extension"
	case CloseInternalError:
		return s + " internal error"
	case CloseServiceRestart:
		return s + " service restart"
	case CloseTryAgainLater:
		return s + " try again later"
	case CloseBadGateway:
		return s + " bad gateway"
	}
	return s
}

// ParseClose reads a close frame's payload: the code (CloseNoStatus when
// the payload is empty) and the reason. It rejects a one-byte payload,
// codes no endpoint may send (§7.4) and a reason that is not UTF-8.
func ParseClose(p []byte) (code uint16, reason []byte, err error) {
	switch {
	case len(p) == 0:
		return CloseNoStatus, nil, nil
	case len(p) == 1:
		return 0, nil, protoErr("close frame with a 1-byte payload")
	}
	code, reason = binary.BigEndian.Uint16(p), p[2:]
	if !validCloseCode(code) {
		return code, reason, protoErr("close code %d may not be sent", code)
	}
	if !utf8.Valid(reason) {
		return code, reason, &Error{Code: CloseInvalidData, Msg: "close reason is not UTF-8"}
	}
	return code, reason, nil
}

func validCloseCode(c uint16) bool {
	switch {
	case c >= 3000 && c <= 4999:
		return true
	case c < 1000 || c > 1014:
		return false
	}
	return c != 1004 && c != CloseNoStatus && c != CloseAbnormal
}

// AppendClose appends a close frame with code and reason (masked with key
// when masked; reason is cut to fit 125 bytes).
func AppendClose(dst []byte, code uint16, reason string, masked bool, key [4]byte) []byte {
	var p [MaxControl]byte
	binary.BigEndian.PutUint16(p[:], code)
	n := 2 + copy(p[2:], reason)
	return AppendFrame(dst, OpClose, true, p[:n], masked, key)
}

// Close classes: how a swarm counts a connection the server closed with a
// close frame. The names are error classes of the run record.
const (
	ClassClosePolicy    = "ws_close_policy"     // 1008: the gateway refused what we sent or who we are
	ClassCloseGoingAway = "ws_close_going_away" // 1001, 1012: server shutting down or restarting
	ClassCloseTryLater  = "ws_close_try_later"  // 1013: overloaded
	ClassCloseInternal  = "ws_close_internal"   // 1011, 1014
	ClassCloseTooBig    = "ws_close_too_big"    // 1009
	ClassCloseProtocol  = "ws_close_protocol"   // 1002, 1003, 1007, 1010: the server says we broke the protocol
	ClassCloseNormal    = "ws_close_normal"     // 1000, 1005
	ClassCloseOther     = "ws_close_other"      // application codes 3000-4999 and the rest
)

// CloseClass names the class of a close code.
func CloseClass(code uint16) string {
	switch code {
	case ClosePolicyViolation:
		return ClassClosePolicy
	case CloseGoingAway, CloseServiceRestart:
		return ClassCloseGoingAway
	case CloseTryAgainLater:
		return ClassCloseTryLater
	case CloseInternalError, CloseBadGateway:
		return ClassCloseInternal
	case CloseMessageTooBig:
		return ClassCloseTooBig
	case CloseProtocolError, CloseUnsupported, CloseInvalidData, CloseMandatoryExt:
		return ClassCloseProtocol
	case CloseNormal, CloseNoStatus:
		return ClassCloseNormal
	}
	return ClassCloseOther
}
