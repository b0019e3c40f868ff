package scenario

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Framing kinds.
const (
	FrameLine    = iota // frames end with Delim
	FrameLength         // a length field in a header
	FrameControl        // lines; a line starting with a Bodies prefix announces a body by its last field
	FrameMessage        // one WebSocket message each
)

// Framing cuts a byte stream into frames.
type Framing struct {
	Kind  int
	Delim []byte // FrameLine, FrameControl
	// FrameLength: the length field is Size bytes (0: a varint) at Offset,
	// Little-endian or big; the header is Header bytes (at least the end
	// of the field); the frame is the value plus Adjust bytes long when
	// Includes (the value counts the header), else the header plus that.
	Offset, Size, Header int
	Little, Includes     bool
	Adjust               int
	// Bodies are the control lines' prefixes that announce a body
	// (FrameControl), as NATS's "MSG ".
	Bodies [][]byte
	// Max bounds a frame; a longer one is an error (the connection is
	// closed as broken), so a server cannot make the swarm buffer without
	// limit.
	Max int
}

// DefaultMaxFrame is Framing.Max unless the file gives max_frame.
const DefaultMaxFrame = 1 << 20

// Frame is one frame: Data is all of it (header, control line), Body the
// offset of the part a json matcher reads (after a length header or a
// control line; 0 otherwise).
type Frame struct {
	Data []byte
	Body int
}

// FrameError is a frame the framing cannot accept.
type FrameError struct{ Msg string }

func (e *FrameError) Error() string { return e.Msg }

var (
	errTooLong   = &FrameError{"a frame longer than the scenario's max_frame"}
	errBadLength = &FrameError{"a length field smaller than the header it is in"}
	errVarint    = &FrameError{"a varint length of more than 10 bytes"}
	errCount     = &FrameError{"a control line whose last field is not a byte count"}
)

// Next cuts the first frame from data: the frame and how many bytes it
// used, n 0 when data holds no whole frame yet. final says data ends with
// a message (a WebSocket message: what is left of it is a whole line).
func (f *Framing) Next(data []byte, final bool) (fr Frame, n int, err error) {
	switch f.Kind {
	case FrameMessage:
		if len(data) == 0 {
			return Frame{}, 0, nil
		}
		return Frame{Data: data}, len(data), nil
	case FrameLine:
		i := bytes.Index(data, f.Delim)
		if i < 0 {
			if final && len(data) > 0 {
				return Frame{Data: data}, len(data), nil
			}
			if len(data) > f.Max {
				return Frame{}, 0, errTooLong
			}
			return Frame{}, 0, nil
		}
		if i > f.Max {
			return Frame{}, 0, errTooLong
		}
		return Frame{Data: data[:i]}, i + len(f.Delim), nil
	case FrameControl:
		return f.control(data, final)
	}
	return f.length(data)
}

func (f *Framing) length(data []byte) (Frame, int, error) {
	if len(data) < f.Offset+max(f.Size, 1) {
		return Frame{}, 0, nil
	}
	var v uint64
	head := f.Header
	switch f.Size {
	case 0:
		x, k := binary.Uvarint(data[f.Offset:])
		if k == 0 {
			if len(data)-f.Offset >= binary.MaxVarintLen64 {
				return Frame{}, 0, errVarint
			}
			return Frame{}, 0, nil
		}
		if k < 0 {
			return Frame{}, 0, errVarint
		}
		v, head = x, max(head, f.Offset+k)
	case 1:
		v = uint64(data[f.Offset])
	case 2:
		v = uint64(f.order().Uint16(data[f.Offset:]))
	case 4:
		v = uint64(f.order().Uint32(data[f.Offset:]))
	default:
		v = f.order().Uint64(data[f.Offset:])
	}
	if v > uint64(f.Max)+uint64(head)+1<<20 {
		return Frame{}, 0, errTooLong
	}
	total := int64(v) + int64(f.Adjust)
	if !f.Includes {
		total += int64(head)
	}
	if total < int64(head) {
		return Frame{}, 0, errBadLength
	}
	if total > int64(f.Max) {
		return Frame{}, 0, errTooLong
	}
	if int64(len(data)) < total {
		return Frame{}, 0, nil
	}
	return Frame{Data: data[:total], Body: head}, int(total), nil
}

func (f *Framing) order() binary.ByteOrder {
	if f.Little {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

func (f *Framing) control(data []byte, final bool) (Frame, int, error) {
	i := bytes.Index(data, f.Delim)
	if i < 0 {
		if len(data) > f.Max {
			return Frame{}, 0, errTooLong
		}
		if final && len(data) > 0 {
			return Frame{Data: data}, len(data), nil
		}
		return Frame{}, 0, nil
	}
	line := data[:i]
	announces := false
	for _, p := range f.Bodies {
		announces = announces || bytes.HasPrefix(line, p)
	}
	if !announces {
		return Frame{Data: line}, i + len(f.Delim), nil
	}
	j := bytes.LastIndexByte(line, ' ')
	count, ok := parseUint(line[j+1:])
	if j < 0 || !ok || len(line)-j-1 > 10 {
		return Frame{}, 0, errCount
	}
	body := i + len(f.Delim)
	if count > uint64(f.Max) || body+int(count) > f.Max {
		return Frame{}, 0, errTooLong
	}
	end := body + int(count)
	if len(data) < end+len(f.Delim) {
		return Frame{}, 0, nil
	}
	if !bytes.Equal(data[end:end+len(f.Delim)], f.Delim) {
		return Frame{}, 0, &FrameError{fmt.Sprintf("a body of %d bytes not followed by the line ending", count)}
	}
	return Frame{Data: data[:end], Body: body}, end + len(f.Delim), nil
}
