package tlsrec

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"hash"
)

// prf12 fills out with the TLS 1.2 PRF, P_hash(secret, label || seed)
// (RFC 5246, section 5).
func prf12(h func() hash.Hash, secret []byte, label string, seed, out []byte) {
	ls := append([]byte(label), seed...)
	mac := hmac.New(h, secret)
	mac.Write(ls)
	a := mac.Sum(nil) // A(1)
	for n := 0; n < len(out); {
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		n += copy(out[n:], mac.Sum(nil))
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
}

// setKeys12 installs the TLS 1.2 keys of both directions from the master
// secret and the hello randoms: key_block = PRF(master, "key expansion",
// server_random || client_random), cut into client key, server key, client
// IV, server IV (AEAD suites have no MAC keys; RFC 5246 section 6.3, RFC
// 5288, RFC 7905).
func (s *Session) setKeys12(master []byte, clientRandom, serverRandom []byte) {
	cs := &suites[s.suite]
	block := make([]byte, 2*cs.keyLen+2*cs.ivLen)
	prf12(cs.hash, master, "key expansion", append(append([]byte{}, serverRandom...), clientRandom...), block)
	client, server := &s.out, &s.in
	if s.server {
		client, server = server, client
	}
	copy(client.key[:], block[:cs.keyLen])
	copy(server.key[:], block[cs.keyLen:2*cs.keyLen])
	copy(client.iv[:], block[2*cs.keyLen:2*cs.keyLen+cs.ivLen])
	copy(server.iv[:], block[2*cs.keyLen+cs.ivLen:])
}

// helloRandom is the random of the first hello message (typ 1 ClientHello,
// 2 ServerHello) among the plaintext handshake records recs: the 32 bytes
// after the message header and the legacy version. The hello may be
// fragmented over records, so their payloads are joined until it is there.
func helloRandom(recs [][]byte, typ byte) ([]byte, error) {
	var msg []byte
	for _, r := range recs {
		if r[0] != recordHandshake {
			continue
		}
		msg = append(msg, r[recordHeader:]...)
		if len(msg) >= 38 {
			if msg[0] != typ {
				break
			}
			return msg[6:38], nil
		}
	}
	return nil, errors.New("no hello with its random among the handshake records")
}

// extraMaster marks the entry of a SessionState's Extra that carries the
// TLS 1.2 master secret. crypto/tls logs no master secret for a resumed TLS
// 1.2 handshake (it reuses the session's, which it does not expose), so
// tlsrec stores it in the session itself: in the ticket on the server,
// encrypted with the ticket keys like the session's own copy; in the
// client's session cache, next to the session's own copy.
const extraMaster = "tlsrec tls12 master "

// withMaster is extra with the master secret entry set to master.
func withMaster(extra [][]byte, master []byte) [][]byte {
	out := make([][]byte, 0, len(extra)+1)
	for _, e := range extra {
		if !bytes.HasPrefix(e, []byte(extraMaster)) {
			out = append(out, e)
		}
	}
	return append(out, append([]byte(extraMaster), master...))
}

// masterIn is the master secret entry of extra, nil when there is none.
func masterIn(extra [][]byte) []byte {
	for _, e := range extra {
		if m, ok := bytes.CutPrefix(e, []byte(extraMaster)); ok {
			return m
		}
	}
	return nil
}
