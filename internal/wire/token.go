package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
