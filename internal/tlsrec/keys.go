package tlsrec

import (
	"crypto/hkdf"
	"encoding/binary"
	"hash"
)

// direction is the state of one direction of a session: the AEAD key, the
// IV, the sequence number of the next record, and (TLS 1.3) the traffic
// secret the next KeyUpdate derives from. Arrays, not slices, so that a
// Session holds no pointers: a million of them cost the garbage collector
// nothing to scan.
type direction struct {
	key    [32]byte // first suite.keyLen bytes used
	iv     [12]byte // first suite.ivLen bytes used
	seq    uint64
	secret [48]byte // first suite.size bytes used (TLS 1.3)
}

// setSecret installs a TLS 1.3 traffic secret: key and IV derived by
// HKDF-Expand-Label (RFC 8446, section 7.3), sequence number 0.
func (d *direction) setSecret(cs *suite, secret []byte) {
	copy(d.secret[:], secret[:cs.size])
	copy(d.key[:], expandLabel(cs.hash, secret[:cs.size], "key", cs.keyLen))
	copy(d.iv[:], expandLabel(cs.hash, secret[:cs.size], "iv", cs.ivLen))
	d.seq = 0
}

// update moves to the next TLS 1.3 traffic secret, as a KeyUpdate asks
// (RFC 8446, section 7.2).
func (d *direction) update(cs *suite) {
	d.setSecret(cs, expandLabel(cs.hash, d.secret[:cs.size], "traffic upd", cs.size))
}

// expandLabel is HKDF-Expand-Label(secret, label, "", length) of RFC 8446,
// section 7.1. hkdf.Expand fails only for lengths over 255 hash outputs or
// keys under 112 bits, neither of which TLS asks for.
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) []byte {
	info := make([]byte, 0, 4+len("tls13 ")+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(h, secret, string(info), length)
	if err != nil {
		panic("tlsrec: " + err.Error())
	}
	return out
}
