package tlsrec

import (
	"encoding/binary"
	"slices"
)

// Record layout (RFC 8446 section 5, RFC 5246 section 6.2).
const (
	recordHeader  = 5
	maxPlaintext  = 1 << 14
	maxCiphertext = maxPlaintext + 256 // TLS 1.3's bound; TLS 1.2 AEAD records stay under it
	tagLen        = 16
	explicitLen   = 8 // TLS 1.2 AES-GCM's per-record nonce

	recordCCS       = 20
	recordAlert     = 21
	recordHandshake = 22
	recordData      = 23
)

// Nonces and additional data are built in spare capacity of dst, past
// what the AEAD writes there: as locals they would escape to the heap
// through the cipher.AEAD interface, an allocation each per record.
const scratchLen = 12 + 13 // nonce, TLS 1.2 additional data

// scratch grows dst to hold need more bytes and scratchLen after them, and
// returns the nonce and additional data buffers there.
func scratch(dst []byte, need int) ([]byte, []byte, []byte) {
	dst = slices.Grow(dst, need+scratchLen)
	s := dst[len(dst)+need : len(dst)+need+scratchLen]
	return dst, s[:12], s[12:]
}

// nonce writes the record nonce for the current sequence number. TLS 1.3
// and TLS 1.2 ChaCha20-Poly1305 XOR the sequence number into the IV (RFC
// 8446 section 5.3, RFC 7905); TLS 1.2 AES-GCM puts the 4-byte IV (the
// salt) before the 8 bytes the record carries (RFC 5288), which are the
// sequence number when this side sends.
func (d *direction) nonce(cs *suite, n, explicit []byte) {
	if cs.ivLen == 4 {
		copy(n[:4], d.iv[:4])
		copy(n[4:], explicit)
		return
	}
	copy(n, d.iv[:])
	for i := range 8 {
		n[4+i] ^= byte(d.seq >> (56 - 8*i))
	}
}

// ad12 writes the TLS 1.2 additional data: seq_num || type || version ||
// plaintext length.
func (d *direction) ad12(ad []byte, typ byte, n int) {
	binary.BigEndian.PutUint64(ad[:8], d.seq)
	ad[8], ad[9], ad[10] = typ, 3, 3
	binary.BigEndian.PutUint16(ad[11:], uint16(n))
}

// seal appends one record of content type typ carrying p (at most 2^14
// bytes) and advances the sequence number. TLS 1.3 hides typ inside the
// encryption and sends the record as application_data, without padding.
func (d *direction) seal(cs *suite, dst []byte, typ byte, p []byte) []byte {
	aead := cs.aead(d.key[:cs.keyLen])
	outer, inner, explicit := typ, len(p), 0
	switch {
	case cs.tls13:
		outer, inner = recordData, len(p)+1
	case cs.ivLen == 4:
		explicit = explicitLen
	}
	size := explicit + inner + tagLen
	dst, nonce, ad := scratch(dst, recordHeader+size)
	hdr := len(dst)
	dst = append(dst, outer, 3, 3, byte(size>>8), byte(size))
	if explicit > 0 {
		dst = binary.BigEndian.AppendUint64(dst, d.seq)
	}
	off := len(dst)
	dst = append(dst, p...)
	if cs.tls13 {
		dst = append(dst, typ)
		ad = dst[hdr:off]
	} else {
		d.ad12(ad, typ, len(p))
	}
	d.nonce(cs, nonce, dst[off-explicit:off])
	aead.Seal(dst[off:off], nonce, dst[off:], ad)
	d.seq++
	return dst[:off+inner+tagLen]
}

// open appends the plaintext of the whole record rec (header included,
// length checked by the caller to cover the AEAD's overhead) to dst and
// returns it with the record's content type. TLS 1.3 padding and the inner
// content type are stripped. On failure dst is returned as it was and the
// sequence number does not move.
func (d *direction) open(cs *suite, dst, rec []byte) ([]byte, byte, *RecordError) {
	aead := cs.aead(d.key[:cs.keyLen])
	hdr, body := rec[:recordHeader], rec[recordHeader:]
	dst, nonce, ad := scratch(dst, len(body))
	start := len(dst)
	if cs.tls13 {
		d.nonce(cs, nonce, nil)
		out, err := aead.Open(dst, nonce, body, hdr)
		if err != nil {
			return dst, 0, &RecordError{reason: reasonMAC}
		}
		if n := len(out) - start; n > maxPlaintext+1 {
			return dst, 0, &RecordError{reason: reasonOverflow, n: uint32(n)}
		}
		i := len(out) - 1
		for i >= start && out[i] == 0 {
			i--
		}
		if i < start {
			return dst, 0, &RecordError{reason: reasonNoType}
		}
		d.seq++
		return out[:i], out[i], nil
	}
	explicit := 0
	if cs.ivLen == 4 {
		explicit = explicitLen
	}
	d.nonce(cs, nonce, body[:explicit])
	d.ad12(ad, hdr[0], len(body)-explicit-tagLen)
	out, err := aead.Open(dst, nonce, body[explicit:], ad)
	if err != nil {
		return dst, 0, &RecordError{reason: reasonMAC}
	}
	if n := len(out) - start; n > maxPlaintext {
		return dst, 0, &RecordError{reason: reasonOverflow, n: uint32(n)}
	}
	d.seq++
	return out, hdr[0], nil
}

// overhead is the least length of a record body under cs: the tag, plus
// the explicit nonce (TLS 1.2 AES-GCM) or the inner content type (TLS 1.3).
func (cs *suite) overhead() int {
	switch {
	case cs.tls13:
		return tagLen + 1
	case cs.ivLen == 4:
		return explicitLen + tagLen
	}
	return tagLen
}
