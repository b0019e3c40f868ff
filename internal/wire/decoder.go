package wire

// shrinkSlack is how much unused capacity a Decoder tolerates behind an
// unfinished frame before it moves that frame into a right-sized buffer.
const shrinkSlack = 16 << 10

// Decoder is an incremental decoder for a byte stream: Feed what a read
// returned, then call Next until it reports no frame. It keeps only the bytes
// of an unfinished frame and releases its buffer when empty, so an idle
// connection's Decoder costs no heap. Frames returned alias the decoder's
// memory until the next Feed.
//
// Feed copies its input, so the caller may reuse its read buffer at once.
// Because the buffer is released whenever the decoder drains, a Feed after a
// drain allocates; a hot path that wants no allocation at all can call Decode
// on its own read buffer instead.
//
// The buffered bytes are bounded: Next rejects a frame over the maximum from
// its header alone, so at most 4+max-1 bytes of an unfinished frame plus one
// Feed's worth are ever held, and the buffer grows only with the bytes
// actually received (a header announcing a large frame reserves nothing).
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	buf []byte // buf[off:] are the bytes not yet decoded
	off int
	max int
	err error // sticky
}

// NewDecoder returns a Decoder enforcing the maximum frame length max
// (max <= 0 means DefaultMaxFrame).
func NewDecoder(max int) *Decoder {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &Decoder{max: max}
}

// Feed appends p, the bytes a read returned, to the stream. It invalidates
// the frames Next returned before. After an error Feed does nothing.
func (d *Decoder) Feed(p []byte) {
	if d.err != nil || len(p) == 0 {
		return
	}
	if d.off > 0 {
		// The frames before off are no longer valid: move the unfinished one
		// to the front.
		n := copy(d.buf, d.buf[d.off:])
		d.buf = d.buf[:n]
		d.off = 0
	}
	d.buf = append(d.buf, p...)
}

// Next returns the next whole frame in the stream. ok is false, with a nil
// error, when no whole frame is buffered: Feed more. After an error the
// stream is unusable: every later call returns the same error (and the
// decoder holds no buffer).
func (d *Decoder) Next() (f Frame, ok bool, err error) {
	if d.err != nil {
		return Frame{}, false, d.err
	}
	f, n, err := Decode(d.buf[d.off:], d.max)
	if err != nil {
		d.err = err
		d.buf, d.off = nil, 0
		return Frame{}, false, err
	}
	if n == 0 {
		d.settle()
		return Frame{}, false, nil
	}
	d.off += n
	if d.off == len(d.buf) {
		// Drained: release the buffer now. f still aliases the old array,
		// which the garbage collector keeps alive for as long as f is used.
		d.buf, d.off = nil, 0
	}
	return f, true, nil
}

// settle runs when no whole frame is buffered: it releases an empty buffer
// and moves a small unfinished frame out of a much larger buffer (into a new
// one, since the frames already returned still alias the old one).
func (d *Decoder) settle() {
	rest := len(d.buf) - d.off
	switch {
	case rest == 0:
		d.buf, d.off = nil, 0
	case d.off > 0 && cap(d.buf)-rest > 2*rest+shrinkSlack:
		d.buf = append([]byte(nil), d.buf[d.off:]...)
		d.off = 0
	}
}

// Buffered returns the number of bytes fed but not yet returned as frames:
// the start of an unfinished frame, or whole frames Next has not yet been
// called for. It is 0 after an error.
func (d *Decoder) Buffered() int { return len(d.buf) - d.off }

// Err returns the decoder's sticky error, or nil.
func (d *Decoder) Err() error { return d.err }
