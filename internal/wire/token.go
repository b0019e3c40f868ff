package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
)

// Token returns the LOGIN token a gateway started with secret expects for
// uid: the lowercase hex of HMAC-SHA256(secret, decimal uid).
func Token(secret []byte, uid uint64) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendUint(nil, uid, 10))
	return hex.AppendEncode(nil, m.Sum(nil))
}

// ValidToken reports, in constant time, whether token is Token(secret, uid).
func ValidToken(secret []byte, uid uint64, token []byte) bool {
	return hmac.Equal(Token(secret, uid), token)
}

// TokenMaker makes Tokens for one secret, reusing its buffers: a client
// logging many uids in allocates nothing per token.
type TokenMaker struct {
	mac      hash.Hash
	sum, tok []byte
	uid      []byte
}

// NewTokenMaker makes tokens for secret; without a secret, tokens are
// empty (a gateway without --auth-secret takes any).
func NewTokenMaker(secret []byte) *TokenMaker {
	if len(secret) == 0 {
		return &TokenMaker{}
	}
	return &TokenMaker{mac: hmac.New(sha256.New, secret)}
}

// Token is Token(secret, uid), valid until the next call.
func (t *TokenMaker) Token(uid uint64) []byte {
	if t.mac == nil {
		return nil
	}
	t.mac.Reset()
	t.uid = strconv.AppendUint(t.uid[:0], uid, 10)
	t.mac.Write(t.uid)
	t.sum = t.mac.Sum(t.sum[:0])
	t.tok = hex.AppendEncode(t.tok[:0], t.sum)
	return t.tok
}
