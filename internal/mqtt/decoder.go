package mqtt

// Decoder turns a byte stream into packets, whatever way it was cut into
// reads. Feed appends bytes; Next returns each whole packet in turn. A
// Packet from Next is valid until the next Feed.
type Decoder struct {
	Version byte // V311 or V5
	Max     int  // largest packet accepted (0: the protocol's limit)
	buf     []byte
	off     int
}

// Feed appends b to the stream, first dropping the packets already read.
func (d *Decoder) Feed(b []byte) {
	if d.off > 0 {
		n := copy(d.buf, d.buf[d.off:])
		d.buf, d.off = d.buf[:n], 0
	}
	d.buf = append(d.buf, b...)
}

// Next returns the next whole packet; ok false when the stream holds no
// whole packet yet. After an error the stream is broken: the connection
// must be closed.
func (d *Decoder) Next() (p Packet, ok bool, err error) {
	p, n, err := Parse(d.buf[d.off:], d.Version, d.Max)
	if err != nil || n == 0 {
		return p, false, err
	}
	d.off += n
	return p, true, nil
}

// Buffered is how many bytes wait for the rest of their packet.
func (d *Decoder) Buffered() int { return len(d.buf) - d.off }
