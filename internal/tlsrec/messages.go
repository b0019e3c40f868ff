package tlsrec

// Handshake message types: the hellos, whose randoms the TLS 1.2 keys
// derive from, and the ones that can come after the handshake.
const (
	typeHelloRequest     = 0 // TLS 1.2: the server asks to renegotiate
	typeClientHello      = 1 // also TLS 1.2: the client renegotiates
	typeServerHello      = 2
	typeNewSessionTicket = 4  // TLS 1.3: a ticket for resumption
	typeKeyUpdate        = 24 // TLS 1.3
)

// messages acts on the post-handshake messages in msgs, the plaintext of
// one handshake record, and returns reply with any answer appended. A
// message may be split across records (RFC 8446 section 5.1): its header
// is kept in s.hs until whole, then a ticket's body is skipped as it comes,
// so a ticket of any length costs no buffer. A KeyUpdate must end its
// record, since the key changes after it.
func (s *Session) messages(cs *suite, msgs, reply []byte) ([]byte, *RecordError) {
	for len(msgs) > 0 {
		if s.hsN < 4 {
			k := copy(s.hs[s.hsN:], msgs)
			s.hsN += uint8(k)
			msgs = msgs[k:]
			if s.hsN < 4 {
				return reply, nil
			}
			length := uint32(s.hs[1])<<16 | uint32(s.hs[2])<<8 | uint32(s.hs[3])
			if e := s.acceptMessage(cs, s.hs[0], length); e != nil {
				return reply, e
			}
			s.hsLeft = length
			if length == 0 { // an empty ticket: malformed, but nothing tlsrec uses
				s.hsN = 0
				s.tickets++
			}
			continue
		}
		if s.hs[0] == typeNewSessionTicket {
			k := min(uint32(len(msgs)), s.hsLeft)
			msgs = msgs[k:]
			s.hsLeft -= k
			if s.hsLeft == 0 {
				s.hsN = 0
				s.tickets++
			}
			continue
		}
		// KeyUpdate: its one body byte.
		req := msgs[0]
		msgs = msgs[1:]
		s.hsN, s.hsLeft = 0, 0
		switch {
		case req > 1:
			return reply, &RecordError{reason: reasonKeyUpdate, n: uint32(req)}
		case len(msgs) > 0:
			return reply, &RecordError{reason: reasonKeyChange}
		}
		s.in.update(cs)
		if req == 1 {
			reply = s.out.seal(cs, reply, recordHandshake, []byte{typeKeyUpdate, 0, 0, 1, 0})
			s.out.update(cs)
		}
	}
	return reply, nil
}

// acceptMessage refuses the post-handshake messages tlsrec does not take:
// renegotiation in TLS 1.2, and in TLS 1.3 anything but KeyUpdate and (to
// a client) NewSessionTicket. Post-handshake client authentication never
// comes, since crypto/tls does not offer it.
func (s *Session) acceptMessage(cs *suite, typ byte, length uint32) *RecordError {
	switch {
	case !cs.tls13 && (typ == typeHelloRequest || typ == typeClientHello):
		return &RecordError{reason: reasonRenegotiation, n: uint32(typ)}
	case cs.tls13 && typ == typeNewSessionTicket && !s.server:
		return nil
	case cs.tls13 && typ == typeKeyUpdate:
		if length != 1 {
			return &RecordError{reason: reasonKeyUpdate, n: 256 + length}
		}
		return nil
	}
	return &RecordError{reason: reasonMessage, n: uint32(typ)}
}
