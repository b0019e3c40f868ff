package tlsrec

import (
	"encoding/binary"
	"net"
	"os"
)

// recordConn is the conn crypto/tls handshakes over. It hands crypto/tls
// at most one record per Read and never a byte past the end of the record
// it is in, so that when the handshake returns crypto/tls has consumed
// whole records and holds nothing more: the bytes tlsrec read past them
// stay in hand and go to the caller. It keeps a copy of every record each
// way (the handshake's few kilobytes, dropped with the conn), from which
// the hello randoms are read and the sequence numbers counted.
type recordConn struct {
	net.Conn
	hand []byte // read from the conn, not yet given to crypto/tls
	left int    // bytes of the current record crypto/tls has yet to get

	// After the handshake Read is gated: it gives crypto/tls only the
	// records let through (pass), and a timeout at a record boundary
	// otherwise, which crypto/tls returns without breaking its state.
	gated bool
	pass  int

	got, sent recordLog // records given to crypto/tls, and written by it
}

// Read gives crypto/tls the next bytes of the current record.
func (c *recordConn) Read(p []byte) (int, error) {
	if c.left == 0 {
		if c.gated {
			if c.pass == 0 {
				return 0, os.ErrDeadlineExceeded
			}
			c.pass--
		}
		if err := c.fill(recordHeader); err != nil {
			return 0, err
		}
		c.left = recordLen(c.hand)
	}
	if err := c.fill(1); err != nil {
		return 0, err
	}
	n := copy(p[:min(len(p), c.left)], c.hand)
	c.got.add(c.hand[:n])
	c.hand = c.hand[n:]
	c.left -= n
	return n, nil
}

// Write writes crypto/tls's records to the conn.
func (c *recordConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.add(p[:n])
	return n, err
}

// fill reads from the conn until at least n bytes are in hand. Whatever
// it reads stays in hand until given to crypto/tls, across errors.
func (c *recordConn) fill(n int) error {
	for len(c.hand) < n {
		if cap(c.hand)-len(c.hand) < 4096 {
			c.hand = append(make([]byte, 0, len(c.hand)+recordHeader+maxCiphertext), c.hand...)
		}
		m, err := c.Conn.Read(c.hand[len(c.hand):cap(c.hand)])
		c.hand = c.hand[:len(c.hand)+m]
		if err != nil && len(c.hand) < n {
			return err
		}
	}
	return nil
}

// nextRecord is the whole record at the start of what is in hand, reading
// from the conn until it is there; ok is false for a header whose length
// no record has (Open refuses it).
func (c *recordConn) nextRecord() (rec []byte, ok bool, err error) {
	if err := c.fill(recordHeader); err != nil {
		return nil, false, err
	}
	n := recordLen(c.hand)
	if n > recordHeader+maxCiphertext {
		return nil, false, nil
	}
	if err := c.fill(n); err != nil {
		return nil, false, err
	}
	return c.hand[:n], true, nil
}

// recordInHand tells whether a whole record is in hand.
func (c *recordConn) recordInHand() bool {
	return len(c.hand) >= recordHeader && len(c.hand) >= recordLen(c.hand)
}

// recordLog splits a byte stream into records and keeps a copy of each.
type recordLog struct {
	part []byte   // the record being completed
	recs [][]byte // whole records, header included
}

func (l *recordLog) add(p []byte) {
	for len(p) > 0 {
		need := recordHeader
		if len(l.part) >= recordHeader {
			need = recordLen(l.part)
		}
		k := min(len(p), need-len(l.part))
		l.part = append(l.part, p[:k]...)
		p = p[k:]
		if len(l.part) >= recordHeader && len(l.part) == recordLen(l.part) {
			l.recs = append(l.recs, l.part)
			l.part = nil
		}
	}
}

// recordLen is the length, header included, of the record whose header
// starts b.
func recordLen(b []byte) int {
	return recordHeader + int(binary.BigEndian.Uint16(b[3:5]))
}
