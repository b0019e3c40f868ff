// Package mqtt is imtool's MQTT packet codec, versions 3.1.1 (protocol
// level 4) and 5.0 (level 5): the packets a client sends (CONNECT,
// PUBLISH, PUBACK/PUBREC/PUBREL/PUBCOMP, SUBSCRIBE, PINGREQ, DISCONNECT)
// built by Append functions, every packet a broker sends parsed by Parse,
// a buffering Decoder for byte streams that arrive split or merged, and
// the meaning of CONNACK return codes (3.1.1) and reason codes (5.0) as
// error classes with a fix.
//
// It holds no connection and starts no goroutine: bytes in, packets out.
// Parse never allocates: a Packet's byte slices are views into the input,
// valid until the caller reuses it. Append functions allocate only when dst
// has too little room.
package mqtt

import "fmt"

// Protocol levels carried in CONNECT.
const (
	V311 byte = 4 // MQTT 3.1.1
	V5   byte = 5 // MQTT 5.0
)

// Packet types (the high nibble of the first byte).
const (
	CONNECT     byte = 1
	CONNACK     byte = 2
	PUBLISH     byte = 3
	PUBACK      byte = 4
	PUBREC      byte = 5
	PUBREL      byte = 6
	PUBCOMP     byte = 7
	SUBSCRIBE   byte = 8
	SUBACK      byte = 9
	UNSUBSCRIBE byte = 10
	UNSUBACK    byte = 11
	PINGREQ     byte = 12
	PINGRESP    byte = 13
	DISCONNECT  byte = 14
	AUTH        byte = 15
)

var typeNames = [16]string{"reserved(0)", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",
	"DISCONNECT", "AUTH"}

// TypeName is the name of packet type t ("PUBACK").
func TypeName(t byte) string { return typeNames[t&0xF] }

// MaxRemaining is the largest remaining length the 4-byte variable byte
// integer can carry (268,435,455).
const MaxRemaining = 268435455

// Error is a packet that breaks the MQTT specification: the broker sent
// something malformed, or what was asked to be encoded cannot be.
type Error struct{ Msg string }

func (e *Error) Error() string { return "mqtt: " + e.Msg }

func malformed(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// appendVarint appends n as a variable byte integer (§1.5.5 / §2.2.3).
func appendVarint(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7F)
		n >>= 7
		if n == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// varintLen is how many bytes appendVarint writes for n.
func varintLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

// readVarint reads a variable byte integer from b: its value and length;
// n 0 means b ends inside it. A fifth byte is malformed (§1.5.5).
func readVarint(b []byte) (v, n int, err error) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		v |= int(b[i]&0x7F) << shift
		if b[i]&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, malformed("variable byte integer longer than 4 bytes")
}

func appendString(dst, s []byte) []byte {
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...)
}

func appendUint16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
