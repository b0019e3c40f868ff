package ws

import "unicode/utf8"

// Message is one whole message or control frame. Data points into the
// decoder and stays valid until the next Feed or Next.
type Message struct {
	Op   byte // OpText, OpBinary, OpPing, OpPong or OpClose
	Data []byte
}

// Assembler joins the fragments of one message. A zero Assembler is
// empty; it holds a buffer only while a fragmented message is open.
type Assembler struct {
	op   byte // opcode of the open message; 0 when none is open
	data []byte
}

// Add takes the next data frame (control frames go around it). ok is true
// when f completes a message, which is then m; its Data is f.Payload for
// an unfragmented message, or the Assembler's buffer until the next Add.
// max bounds a reassembled message. Text messages must be UTF-8 (§8.1).
func (a *Assembler) Add(f Frame, max int) (m Message, ok bool, err error) {
	switch {
	case f.Op == OpContinuation && a.op == 0:
		return m, false, protoErr("continuation frame with no message to continue")
	case f.Op != OpContinuation && a.op != 0:
		return m, false, protoErr("new message (opcode 0x%x) inside a fragmented one", f.Op)
	case f.Op != OpContinuation && f.Fin:
		m = Message{Op: f.Op, Data: f.Payload}
	case f.Op != OpContinuation:
		a.op, a.data = f.Op, append(a.data[:0], f.Payload...)
		return m, false, nil
	default:
		if len(a.data)+len(f.Payload) > max {
			return m, false, &Error{Code: CloseMessageTooBig, Msg: "fragmented message over the limit"}
		}
		a.data = append(a.data, f.Payload...)
		if !f.Fin {
			return m, false, nil
		}
		m = Message{Op: a.op, Data: a.data}
		a.op = 0
	}
	if m.Op == OpText && !utf8.Valid(m.Data) {
		return Message{}, false, &Error{Code: CloseInvalidData, Msg: "text message is not UTF-8"}
	}
	return m, true, nil
}

// Open tells whether a fragmented message is in progress.
func (a *Assembler) Open() bool { return a.op != 0 }

// Reset drops an open message and its buffer.
func (a *Assembler) Reset() { a.op, a.data = 0, nil }

// Decoder turns a byte stream into messages and control frames:
// fragments reassembled, payloads unmasked, every rule of ParseHeader,
// NextFrame and Assembler checked. After an error it returns that error
// for good.
type Decoder struct {
	buf    []byte
	off    int
	max    int
	server bool // the peer is a client: frames must be masked
	asm    Assembler
	err    error
}

// NewDecoder decodes a server's frames (server false) or a client's
// (server true), messages of at most max bytes.
func NewDecoder(max int, server bool) *Decoder { return &Decoder{max: max, server: server} }

// Feed appends bytes read from the connection.
func (d *Decoder) Feed(p []byte) {
	if d.off > 0 && d.off == len(d.buf) {
		d.buf, d.off = d.buf[:0], 0
	} else if d.off > 0 && len(d.buf)+len(p) > cap(d.buf) {
		d.buf, d.off = append(d.buf[:0], d.buf[d.off:]...), 0
	}
	d.buf = append(d.buf, p...)
}

// Next returns the next message or control frame; ok is false when more
// bytes are needed.
func (d *Decoder) Next() (m Message, ok bool, err error) {
	for d.err == nil {
		f, n, err := NextFrame(d.buf[d.off:], d.max, d.server)
		if err != nil {
			d.err = err
			break
		}
		if n == 0 {
			return m, false, nil
		}
		d.off += n
		if IsControl(f.Op) {
			return Message{Op: f.Op, Data: f.Payload}, true, nil
		}
		m, ok, err := d.asm.Add(f, d.max)
		if err != nil {
			d.err = err
			break
		}
		if ok {
			return m, true, nil
		}
	}
	return m, false, d.err
}
