// Package wire implements the imtool client↔gateway wire protocol, version 1,
// specified in docs/PROTOCOL.md.
//
// Every frame is a 4-byte big-endian length, a type byte and a body of
// length-1 bytes. The length counts the type byte and the body, so it is at
// least 1, and a receiver rejects frames whose length is over its maximum
// (DefaultMaxFrame unless configured with --max-frame).
//
// Decoding: Decode reads one frame from the front of a byte slice without
// allocating and without copying (the frame's byte fields alias the input);
// Decoder wraps it for a byte stream whose reads split and merge frames
// arbitrarily. Both report protocol errors as *Error, whose Code is the ERROR
// code the gateway sends before closing the connection.
//
// Encoding: the Append* functions append one whole frame to a slice, in the
// style of strconv.AppendInt, and do not allocate when the slice has room.
//
// The package uses the standard library only and holds no global state: it is
// safe for concurrent use, except that one Decoder belongs to one goroutine.
package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

const (
	HeaderLen       = 5     // u32 length + u8 type
	DefaultMaxFrame = 65536 // default maximum frame length (type byte + body)
)

// Frame types.
const (
	TypeLogin     byte = 0x01 // C→G uid u64, token_len u16, token
	TypeLoginOK   byte = 0x02 // G→C uid u64, session_id u64, server_unix_ms u64
	TypePing      byte = 0x03 // C→G ts u64
	TypePong      byte = 0x04 // G→C ts u64 (the PING's value)
	TypeSend      byte = 0x05 // C→G msg_id u64, to_uid u64, sent_ts u64, payload
	TypeAck       byte = 0x06 // G→C msg_id u64, status u8
	TypeDeliver   byte = 0x07 // G→C msg_id u64, from_uid u64, sent_ts u64, payload
	TypeBroadcast byte = 0x08 // C→G msg_id u64, sent_ts u64, payload
	TypeLogout    byte = 0x09 // C→G empty
	TypeError     byte = 0x0A // G→C code u16, reason_len u16, reason
	TypeKick      byte = 0x0B // G→C code u16
)

// ACK statuses.
const (
	AckDelivered        uint8 = 0 // queued on the recipient's connection
	AckOffline          uint8 = 1 // recipient offline
	AckRouteUnavailable uint8 = 2 // recipient maybe on another gateway, dispatcher unreachable
	AckRateLimited      uint8 = 3
	AckTooLarge         uint8 = 4 // payload too large
	AckNotAllowed       uint8 = 5 // e.g. BROADCAST when broadcast is disabled
)

// ERROR and KICK codes.
const (
	CodeBadFrame       uint16 = 1
	CodeTooLarge       uint16 = 2
	CodeUnknownType    uint16 = 3
	CodeNotLoggedIn    uint16 = 4
	CodeLoginRejected  uint16 = 5
	CodeLoginTimeout   uint16 = 6
	CodeIdleTimeout    uint16 = 7
	CodeDuplicateLogin uint16 = 8
	CodeShuttingDown   uint16 = 9
	CodeServerFull     uint16 = 10
)

var typeNames = [...]string{
	TypeLogin:     "LOGIN",
	TypeLoginOK:   "LOGIN_OK",
	TypePing:      "PING",
	TypePong:      "PONG",
	TypeSend:      "SEND",
	TypeAck:       "ACK",
	TypeDeliver:   "DELIVER",
	TypeBroadcast: "BROADCAST",
	TypeLogout:    "LOGOUT",
	TypeError:     "ERROR",
	TypeKick:      "KICK",
}

var codeNames = [...]string{
	CodeBadFrame:       "bad_frame",
	CodeTooLarge:       "too_large",
	CodeUnknownType:    "unknown_type",
	CodeNotLoggedIn:    "not_logged_in",
	CodeLoginRejected:  "login_rejected",
	CodeLoginTimeout:   "login_timeout",
	CodeIdleTimeout:    "idle_timeout",
	CodeDuplicateLogin: "duplicate_login",
	CodeShuttingDown:   "shutting_down",
	CodeServerFull:     "server_full",
}

var ackNames = [...]string{
	AckDelivered:        "delivered",
	AckOffline:          "offline",
	AckRouteUnavailable: "route_unavailable",
	AckRateLimited:      "rate_limited",
	AckTooLarge:         "too_large",
	AckNotAllowed:       "not_allowed",
}

// TypeName returns the protocol name of a frame type ("LOGIN", "LOGIN_OK",
// ...), or its hex value ("0x0c") when the type is unknown.
func TypeName(t byte) string {
	if known(t) {
		return typeNames[t]
	}
	const hex = "0123456789abcdef"
	return string([]byte{'0', 'x', hex[t>>4], hex[t&0xf]})
}

// CodeName returns the name of an ERROR/KICK code ("bad_frame", ...), or
// "code_N" when the code is unknown.
func CodeName(c uint16) string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return "code_" + strconv.Itoa(int(c))
}

// AckName returns the name of an ACK status ("delivered", ...), or
// "status_N" when the status is unknown.
func AckName(s uint8) string {
	if int(s) < len(ackNames) {
		return ackNames[s]
	}
	return "status_" + strconv.Itoa(int(s))
}

func known(t byte) bool { return t >= TypeLogin && t <= TypeKick }

// Frame is one decoded frame. Only the fields of its Type are set. Token,
// Payload and Reason alias the input buffer: copy them to keep them past the
// next decode.
//
// Field use by type: LOGIN UID, Token; LOGIN_OK UID, SessionID, ServerMs;
// PING and PONG TS; SEND MsgID, ToUID, SentTS, Payload; ACK MsgID, Status;
// DELIVER MsgID, FromUID, SentTS, Payload; BROADCAST MsgID, SentTS, Payload;
// LOGOUT nothing; ERROR Code, Reason; KICK Code.
type Frame struct {
	Type                          byte
	UID, SessionID, ServerMs, TS  uint64
	MsgID, ToUID, FromUID, SentTS uint64
	Status                        uint8
	Code                          uint16
	Token, Payload, Reason        []byte
}

// Error is a protocol error; Code is the ERROR code the gateway sends for it
// (CodeBadFrame, CodeTooLarge or CodeUnknownType) and Msg, phrased for a
// human, is suitable as that ERROR's reason.
type Error struct {
	Code uint16
	Msg  string
}

// Error returns "wire: <code name>: <Msg>".
func (e *Error) Error() string { return "wire: " + CodeName(e.Code) + ": " + e.Msg }

func errorf(code uint16, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// layout describes a type's body: min is its fixed part; variable means bytes
// may follow it; prefix >= 0 is the offset of a u16 that must equal the
// number of bytes after the fixed part.
type layout struct {
	min      int
	variable bool
	prefix   int
	what     string // name of the length prefix
}

var layouts = [...]layout{
	TypeLogin:     {min: 10, variable: true, prefix: 8, what: "token_len"},
	TypeLoginOK:   {min: 24, prefix: -1},
	TypePing:      {min: 8, prefix: -1},
	TypePong:      {min: 8, prefix: -1},
	TypeSend:      {min: 24, variable: true, prefix: -1},
	TypeAck:       {min: 9, prefix: -1},
	TypeDeliver:   {min: 24, variable: true, prefix: -1},
	TypeBroadcast: {min: 16, variable: true, prefix: -1},
	TypeLogout:    {min: 0, prefix: -1},
	TypeError:     {min: 4, variable: true, prefix: 2, what: "reason_len"},
	TypeKick:      {min: 2, prefix: -1},
}

// checkBodyLen checks a body length against a known type's layout.
func checkBodyLen(typ byte, n int) error {
	if l := &layouts[typ]; n == l.min || (l.variable && n > l.min) {
		return nil
	}
	return bodyLenError(typ, n)
}

//go:noinline
func bodyLenError(typ byte, n int) error {
	l := &layouts[typ]
	if l.variable {
		return errorf(CodeBadFrame, "%s body is %d bytes, want at least %d", typeNames[typ], n, l.min)
	}
	return errorf(CodeBadFrame, "%s body is %d bytes, want %d", typeNames[typ], n, l.min)
}

// checkPrefix checks a length-prefixed type's prefix, given the body's first
// layout.min bytes and the whole body's length (already checked >= min).
func checkPrefix(typ byte, fixed []byte, n int) error {
	l := &layouts[typ]
	if l.prefix < 0 {
		return nil
	}
	if p := int(binary.BigEndian.Uint16(fixed[l.prefix:])); p != n-l.min {
		return prefixError(typ, p, n-l.min)
	}
	return nil
}

//go:noinline
func prefixError(typ byte, p, follow int) error {
	return errorf(CodeBadFrame, "%s %s is %d but %d bytes follow it", typeNames[typ], layouts[typ].what, p, follow)
}

//go:noinline
func unknownType(typ byte) error {
	return errorf(CodeUnknownType, "unknown frame type %s", TypeName(typ))
}

// ParseBody checks body against typ's layout (exact sizes for fixed layouts;
// token and reason length prefixes must match the remaining bytes exactly)
// and fills a Frame. Token, Payload and Reason alias body. It does not
// allocate unless it returns an error.
func ParseBody(typ byte, body []byte) (Frame, error) {
	if !known(typ) {
		return Frame{}, unknownType(typ)
	}
	if err := checkBodyLen(typ, len(body)); err != nil {
		return Frame{}, err
	}
	if err := checkPrefix(typ, body, len(body)); err != nil {
		return Frame{}, err
	}
	var f Frame
	fill(&f, typ, body)
	return f, nil
}

// fill sets f from a body already checked against typ's layout.
func fill(f *Frame, typ byte, body []byte) {
	be := binary.BigEndian
	f.Type = typ
	switch typ {
	case TypeLogin:
		f.UID = be.Uint64(body)
		f.Token = body[10:]
	case TypeLoginOK:
		f.UID = be.Uint64(body)
		f.SessionID = be.Uint64(body[8:])
		f.ServerMs = be.Uint64(body[16:])
	case TypePing, TypePong:
		f.TS = be.Uint64(body)
	case TypeSend:
		f.MsgID = be.Uint64(body)
		f.ToUID = be.Uint64(body[8:])
		f.SentTS = be.Uint64(body[16:])
		f.Payload = body[24:]
	case TypeAck:
		f.MsgID = be.Uint64(body)
		f.Status = body[8]
	case TypeDeliver:
		f.MsgID = be.Uint64(body)
		f.FromUID = be.Uint64(body[8:])
		f.SentTS = be.Uint64(body[16:])
		f.Payload = body[24:]
	case TypeBroadcast:
		f.MsgID = be.Uint64(body)
		f.SentTS = be.Uint64(body[8:])
		f.Payload = body[16:]
	case TypeError:
		f.Code = be.Uint16(body)
		f.Reason = body[4:]
	case TypeKick:
		f.Code = be.Uint16(body)
	}
}

// Decode reads one frame from the front of buf. It returns n == 0 and a nil
// error when buf does not yet hold a whole frame; it has then already checked
// what it can, so a length of 0 or over max is an error as soon as the 4
// length bytes are present, an unknown type byte as soon as 5 bytes are, and a
// length that does not fit the type's layout (or a token_len/reason_len
// that does not fit the length) as soon as those bytes are, before the rest
// of the body arrives. On success n is the frame's size on the wire (4 +
// length) and the frame's byte fields alias buf. max <= 0 means
// DefaultMaxFrame.
//
// Errors are *Error with Code CodeBadFrame (length 0, body not matching the
// layout), CodeTooLarge (length over max) or CodeUnknownType. Decode does
// not allocate unless it returns an error.
func Decode(buf []byte, max int) (f Frame, n int, err error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	if len(buf) < 4 {
		return Frame{}, 0, nil
	}
	length := binary.BigEndian.Uint32(buf)
	if length == 0 || uint64(length) > uint64(max) {
		return Frame{}, 0, lengthError(length, max)
	}
	if len(buf) < HeaderLen {
		return Frame{}, 0, nil
	}
	typ := buf[4]
	if !known(typ) {
		return Frame{}, 0, unknownType(typ)
	}
	bodyLen := int(length) - 1 // length <= max, an int
	if err := checkBodyLen(typ, bodyLen); err != nil {
		return Frame{}, 0, err
	}
	avail := len(buf) - HeaderLen
	if l := &layouts[typ]; l.prefix >= 0 && avail >= l.min {
		if err := checkPrefix(typ, buf[HeaderLen:], bodyLen); err != nil {
			return Frame{}, 0, err
		}
	}
	if avail < bodyLen {
		return Frame{}, 0, nil
	}
	fill(&f, typ, buf[HeaderLen:HeaderLen+bodyLen])
	return f, HeaderLen + bodyLen, nil
}

//go:noinline
func lengthError(length uint32, max int) error {
	if length == 0 {
		return errorf(CodeBadFrame, "frame length 0: a frame holds at least its type byte")
	}
	return errorf(CodeTooLarge, "frame length %d over the maximum %d (--max-frame)", length, max)
}

// FrameLen returns the wire size (4 + length) of a frame of type typ with
// the given variable part: the token, payload or reason length; it is
// ignored for types without one. It returns -1 for an unknown type.
// A frame fits a receiver's maximum when FrameLen(typ, n)-4 <= max; see
// MaxVarLen.
func FrameLen(typ byte, varLen int) int {
	if !known(typ) {
		return -1
	}
	l := &layouts[typ]
	n := HeaderLen + l.min
	if l.variable {
		n += varLen
	}
	return n
}

// MaxVarLen returns the longest token, payload or reason that a frame of type
// typ can carry within a maximum frame length of max (max <= 0 means
// DefaultMaxFrame), taking the u16 prefixes of LOGIN and ERROR into account.
// It returns 0 for types without a variable part and -1 for an unknown type.
//
// Note that a BROADCAST payload becomes a DELIVER payload, whose fixed part
// is 8 bytes longer: MaxVarLen(TypeDeliver, max) is the binding limit.
func MaxVarLen(typ byte, max int) int {
	if !known(typ) {
		return -1
	}
	if max <= 0 {
		max = DefaultMaxFrame
	}
	l := &layouts[typ]
	if !l.variable {
		return 0
	}
	n := max - 1 - l.min
	if l.prefix >= 0 && n > math.MaxUint16 {
		n = math.MaxUint16
	}
	if n < 0 {
		n = 0
	}
	return n
}

// appendHeader appends the length and type of a frame with a body of
// bodyLen bytes.
func appendHeader(dst []byte, typ byte, bodyLen int) []byte {
	if uint64(bodyLen) >= math.MaxUint32 {
		panic("wire: " + TypeName(typ) + " frame body of " + strconv.Itoa(bodyLen) + " bytes does not fit a u32 length")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen)+1)
	return append(dst, typ)
}

// AppendLogin appends a LOGIN frame. It panics if token is longer than
// 65535 bytes (a u16 token_len).
func AppendLogin(dst []byte, uid uint64, token []byte) []byte {
	if len(token) > math.MaxUint16 {
		panic("wire: LOGIN token of " + strconv.Itoa(len(token)) + " bytes is over 65535")
	}
	dst = appendHeader(dst, TypeLogin, 10+len(token))
	dst = binary.BigEndian.AppendUint64(dst, uid)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(token)))
	return append(dst, token...)
}

// AppendLoginOK appends a LOGIN_OK frame.
func AppendLoginOK(dst []byte, uid, sessionID, serverMs uint64) []byte {
	dst = appendHeader(dst, TypeLoginOK, 24)
	dst = binary.BigEndian.AppendUint64(dst, uid)
	dst = binary.BigEndian.AppendUint64(dst, sessionID)
	return binary.BigEndian.AppendUint64(dst, serverMs)
}

// AppendPing appends a PING frame.
func AppendPing(dst []byte, ts uint64) []byte {
	dst = appendHeader(dst, TypePing, 8)
	return binary.BigEndian.AppendUint64(dst, ts)
}

// AppendPong appends a PONG frame.
func AppendPong(dst []byte, ts uint64) []byte {
	dst = appendHeader(dst, TypePong, 8)
	return binary.BigEndian.AppendUint64(dst, ts)
}

// AppendSend appends a SEND frame.
func AppendSend(dst []byte, msgID, toUID, sentTS uint64, payload []byte) []byte {
	dst = appendHeader(dst, TypeSend, 24+len(payload))
	dst = binary.BigEndian.AppendUint64(dst, msgID)
	dst = binary.BigEndian.AppendUint64(dst, toUID)
	dst = binary.BigEndian.AppendUint64(dst, sentTS)
	return append(dst, payload...)
}

// AppendAck appends an ACK frame.
func AppendAck(dst []byte, msgID uint64, status uint8) []byte {
	dst = appendHeader(dst, TypeAck, 9)
	dst = binary.BigEndian.AppendUint64(dst, msgID)
	return append(dst, status)
}

// AppendDeliver appends a DELIVER frame.
func AppendDeliver(dst []byte, msgID, fromUID, sentTS uint64, payload []byte) []byte {
	dst = appendHeader(dst, TypeDeliver, 24+len(payload))
	dst = binary.BigEndian.AppendUint64(dst, msgID)
	dst = binary.BigEndian.AppendUint64(dst, fromUID)
	dst = binary.BigEndian.AppendUint64(dst, sentTS)
	return append(dst, payload...)
}

// AppendBroadcast appends a BROADCAST frame.
func AppendBroadcast(dst []byte, msgID, sentTS uint64, payload []byte) []byte {
	dst = appendHeader(dst, TypeBroadcast, 16+len(payload))
	dst = binary.BigEndian.AppendUint64(dst, msgID)
	dst = binary.BigEndian.AppendUint64(dst, sentTS)
	return append(dst, payload...)
}

// AppendLogout appends a LOGOUT frame.
func AppendLogout(dst []byte) []byte {
	return appendHeader(dst, TypeLogout, 0)
}

// AppendError appends an ERROR frame. A reason longer than 65535 bytes (a
// u16 reason_len) is cut at the last UTF-8 character boundary that fits.
func AppendError(dst []byte, code uint16, reason string) []byte {
	return appendError(dst, code, reason)
}

func appendError[S string | []byte](dst []byte, code uint16, reason S) []byte {
	if len(reason) > math.MaxUint16 {
		i := math.MaxUint16
		for i > 0 && !utf8.RuneStart(reason[i]) {
			i--
		}
		reason = reason[:i]
	}
	dst = appendHeader(dst, TypeError, 4+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, code)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(reason)))
	return append(dst, reason...)
}

// AppendKick appends a KICK frame.
func AppendKick(dst []byte, code uint16) []byte {
	dst = appendHeader(dst, TypeKick, 2)
	return binary.BigEndian.AppendUint16(dst, code)
}

// Append encodes f (by f.Type), using only the fields of its type: the
// inverse of Decode, used by round-trip tests and tools. It panics if f.Type
// is unknown, and as AppendLogin and AppendError do on over-long fields.
func Append(dst []byte, f Frame) []byte {
	switch f.Type {
	case TypeLogin:
		return AppendLogin(dst, f.UID, f.Token)
	case TypeLoginOK:
		return AppendLoginOK(dst, f.UID, f.SessionID, f.ServerMs)
	case TypePing:
		return AppendPing(dst, f.TS)
	case TypePong:
		return AppendPong(dst, f.TS)
	case TypeSend:
		return AppendSend(dst, f.MsgID, f.ToUID, f.SentTS, f.Payload)
	case TypeAck:
		return AppendAck(dst, f.MsgID, f.Status)
	case TypeDeliver:
		return AppendDeliver(dst, f.MsgID, f.FromUID, f.SentTS, f.Payload)
	case TypeBroadcast:
		return AppendBroadcast(dst, f.MsgID, f.SentTS, f.Payload)
	case TypeLogout:
		return AppendLogout(dst)
	case TypeError:
		return appendError(dst, f.Code, f.Reason)
	case TypeKick:
		return AppendKick(dst, f.Code)
	}
	panic("wire: Append of unknown frame type " + TypeName(f.Type))
}
