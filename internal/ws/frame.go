package ws

import (
	"encoding/binary"
	"fmt"
)

// Header is a parsed frame header.
type Header struct {
	Fin    bool
	Op     byte
	Masked bool
	Key    [4]byte
	Len    int // payload bytes
	HLen   int // header bytes; the payload starts here
}

// Error is a violation of RFC 6455 by the peer; Code is the close code to
// answer it with (1002 protocol error, 1007 bad UTF-8, 1009 too big).
type Error struct {
	Code uint16
	Msg  string
}

func (e *Error) Error() string { return "websocket: " + e.Msg }

func protoErr(format string, args ...any) *Error {
	return &Error{Code: CloseProtocolError, Msg: fmt.Sprintf(format, args...)}
}

// ParseHeader reads the frame header at the start of buf. ok is false
// while buf does not hold the whole header. It checks what a header alone
// can break: reserved bits (no extension is ever negotiated), unknown
// opcodes, control frames that are fragmented or longer than 125 bytes,
// lengths not in their shortest form, and payloads over max bytes.
func ParseHeader(buf []byte, max int) (h Header, ok bool, err error) {
	if len(buf) < 2 {
		return h, false, nil
	}
	b0, b1 := buf[0], buf[1]
	h.Fin = b0&0x80 != 0
	h.Op = b0 & 0x0F
	h.Masked = b1&0x80 != 0
	if b0&0x70 != 0 {
		return h, false, protoErr("reserved bits 0x%02x set: no extension was negotiated", b0&0x70)
	}
	switch h.Op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return h, false, protoErr("unknown opcode 0x%x", h.Op)
	}
	n := int(b1 & 0x7F)
	h.HLen = 2
	switch n {
	case 126:
		if len(buf) < 4 {
			return h, false, nil
		}
		n = int(binary.BigEndian.Uint16(buf[2:]))
		h.HLen = 4
		if n <= 125 {
			return h, false, protoErr("length %d in the 16-bit form: the shortest form is required", n)
		}
	case 127:
		if len(buf) < 10 {
			return h, false, nil
		}
		u := binary.BigEndian.Uint64(buf[2:])
		h.HLen = 10
		if u>>63 != 0 {
			return h, false, protoErr("length with the most significant bit set")
		}
		if u <= 0xFFFF {
			return h, false, protoErr("length %d in the 64-bit form: the shortest form is required", u)
		}
		if u > uint64(max) {
			return h, false, &Error{Code: CloseMessageTooBig, Msg: fmt.Sprintf("frame of %d bytes is over the limit of %d", u, max)}
		}
		n = int(u)
	}
	if IsControl(h.Op) {
		if !h.Fin {
			return h, false, protoErr("fragmented control frame (opcode 0x%x)", h.Op)
		}
		if n > MaxControl {
			return h, false, protoErr("control frame of %d bytes: at most 125", n)
		}
	}
	if n > max {
		return h, false, &Error{Code: CloseMessageTooBig, Msg: fmt.Sprintf("frame of %d bytes is over the limit of %d", n, max)}
	}
	h.Len = n
	if h.Masked {
		if len(buf) < h.HLen+4 {
			return h, false, nil
		}
		copy(h.Key[:], buf[h.HLen:h.HLen+4])
		h.HLen += 4
	}
	return h, true, nil
}

// Frame is one whole frame; Payload is unmasked and points into the buffer
// given to NextFrame.
type Frame struct {
	Fin     bool
	Op      byte
	Payload []byte
}

// NextFrame parses the whole frame at the start of buf, unmasking its
// payload in place, and returns it with the bytes it used; n is 0 while
// buf holds less than a whole frame. wantMasked says which side this is:
// a server requires masked frames and a client unmasked ones (§5.1).
func NextFrame(buf []byte, max int, wantMasked bool) (f Frame, n int, err error) {
	h, ok, err := ParseHeader(buf, max)
	if err != nil || !ok {
		return f, 0, err
	}
	if h.Masked != wantMasked {
		if wantMasked {
			return f, 0, protoErr("unmasked frame from a client")
		}
		return f, 0, protoErr("masked frame from a server")
	}
	end := h.HLen + h.Len
	if len(buf) < end {
		return f, 0, nil
	}
	f = Frame{Fin: h.Fin, Op: h.Op, Payload: buf[h.HLen:end:end]}
	if h.Masked {
		Mask(f.Payload, h.Key, 0)
	}
	return f, end, nil
}
