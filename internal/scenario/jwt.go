package scenario

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"time"
)

// JWT is {jwt}: an HS256 JSON Web Token (RFC 7519) whose claims are a
// template, made once per connection.
type JWT struct {
	Secret []byte
	Claims *Template
	// TTL adds "exp" (now + TTL, unix seconds) to claims that lack it.
	TTL time.Duration
}

// jwtHeader is base64url({"alg":"HS256","typ":"JWT"}).
const jwtHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

// Signer makes tokens, reusing its buffers.
type Signer struct {
	j      *JWT
	mac    hash.Hash
	claims []byte
	out    []byte
	sum    []byte
}

// NewSigner makes a Signer of j.
func NewSigner(j *JWT) *Signer {
	return &Signer{j: j, mac: hmac.New(sha256.New, j.Secret)}
}

// Token is the JWT for v, valid until the next call.
func (s *Signer) Token(v *Values) []byte {
	s.claims = s.j.Claims.Append(s.claims[:0], v)
	if s.j.TTL > 0 && !bytes.Contains(s.claims, []byte(`"exp"`)) {
		if i := bytes.LastIndexByte(s.claims, '}'); i > 0 {
			exp := strconv.AppendInt(nil, int64(v.Unix)+int64(s.j.TTL/time.Second), 10)
			sep := ","
			if bytes.TrimSpace(s.claims[:i])[len(bytes.TrimSpace(s.claims[:i]))-1] == '{' {
				sep = ""
			}
			tail := append([]byte(sep+`"exp":`), exp...)
			s.claims = append(s.claims[:i], append(tail, '}')...)
		}
	}
	enc := base64.RawURLEncoding
	s.out = append(s.out[:0], jwtHeader...)
	s.out = append(s.out, '.')
	s.out = enc.AppendEncode(s.out, s.claims)
	s.mac.Reset()
	s.mac.Write(s.out)
	s.sum = s.mac.Sum(s.sum[:0])
	s.out = append(s.out, '.')
	s.out = enc.AppendEncode(s.out, s.sum)
	return s.out
}
