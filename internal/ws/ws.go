// Package ws is imtool's WebSocket (RFC 6455) codec: the client's upgrade
// request and the check of the server's 101, the server's side of the
// upgrade, frame headers, masking, a frame parser and a stream decoder that
// reassembles fragmented messages, and the names of close codes and failed
// upgrades.
//
// It holds no connection and starts no goroutine: bytes in, frames and
// messages out, so the swarm's epoll engine, its portable engine and the
// reference gateway drive the same code. Parsing and building frames never
// allocate; payloads are unmasked in place.
package ws

import "encoding/binary"

// Opcodes (RFC 6455 §5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// IsControl tells whether op is a control frame (close, ping, pong).
func IsControl(op byte) bool { return op&0x8 != 0 }

// MaxControl is the largest payload of a control frame.
const MaxControl = 125

// MaxHeader is the longest frame header: 2 bytes, 8 of length, 4 of mask.
const MaxHeader = 14

// AppendHeader appends the header of a frame of n payload bytes. With
// masked, key is written after the length and the caller masks the payload
// (Mask with pos 0). Lengths use the shortest encoding, as §5.2 requires.
func AppendHeader(dst []byte, op byte, fin bool, n int, masked bool, key [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n <= 125:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if masked {
		dst = append(dst, key[:]...)
	}
	return dst
}

// AppendFrame appends a whole frame: header and payload, the payload masked
// with key when masked (a client's frames must be, §5.3).
func AppendFrame(dst []byte, op byte, fin bool, payload []byte, masked bool, key [4]byte) []byte {
	dst = AppendHeader(dst, op, fin, len(payload), masked, key)
	start := len(dst)
	dst = append(dst, payload...)
	if masked {
		Mask(dst[start:], key, 0)
	}
	return dst
}

// Mask XORs b in place with key, starting at byte pos of the key stream
// (pos is the offset of b within its frame's payload), and returns the
// position after b. Masking twice unmasks.
func Mask(b []byte, key [4]byte, pos int) int {
	i := 0
	if len(b) >= 16 {
		var k4 [4]byte
		for j := range 4 {
			k4[j] = key[(pos+j)&3]
		}
		k32 := uint64(binary.LittleEndian.Uint32(k4[:]))
		k := k32 | k32<<32
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}
