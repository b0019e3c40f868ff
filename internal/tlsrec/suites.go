package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"hash"
	"slices"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is what the record layer needs of a cipher suite.
type suite struct {
	id     uint16
	tls13  bool             // a TLS 1.3 suite; else TLS 1.2 ECDHE
	chacha bool             // ChaCha20-Poly1305; else AES-GCM
	keyLen int              // AEAD key
	ivLen  int              // 12; 4 for TLS 1.2 AES-GCM, whose other 8 nonce bytes ride in the record
	hash   func() hash.Hash // the HKDF hash (TLS 1.3) or the PRF hash (TLS 1.2)
	size   int              // hash's output size: the length of a TLS 1.3 traffic secret
}

// suites are the suites tlsrec runs: every TLS 1.3 suite and the TLS 1.2
// ECDHE AEAD suites (ECDSA and RSA), which are what nginx/OpenSSL, Go and
// mosquitto negotiate.
var suites = [...]suite{
	{id: tls.TLS_AES_128_GCM_SHA256, tls13: true, keyLen: 16, ivLen: 12, hash: sha256.New, size: 32},
	{id: tls.TLS_AES_256_GCM_SHA384, tls13: true, keyLen: 32, ivLen: 12, hash: sha512.New384, size: 48},
	{id: tls.TLS_CHACHA20_POLY1305_SHA256, tls13: true, chacha: true, keyLen: 32, ivLen: 12, hash: sha256.New, size: 32},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, keyLen: 16, ivLen: 4, hash: sha256.New, size: 32},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, keyLen: 16, ivLen: 4, hash: sha256.New, size: 32},
	{id: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, keyLen: 32, ivLen: 4, hash: sha512.New384, size: 48},
	{id: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, keyLen: 32, ivLen: 4, hash: sha512.New384, size: 48},
	{id: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, chacha: true, keyLen: 32, ivLen: 12, hash: sha256.New, size: 32},
	{id: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, chacha: true, keyLen: 32, ivLen: 12, hash: sha256.New, size: 32},
}

// suiteIndex finds id among suites for the negotiated version.
func suiteIndex(version, id uint16) (uint8, bool) {
	for i := range suites {
		if suites[i].id == id && suites[i].tls13 == (version == tls.VersionTLS13) {
			return uint8(i), true
		}
	}
	return 0, false
}

// tls12Suites are the TLS 1.2 suites of suites, for Config.CipherSuites.
func tls12Suites() []uint16 {
	var ids []uint16
	for i := range suites {
		if !suites[i].tls13 {
			ids = append(ids, suites[i].id)
		}
	}
	return ids
}

// restrictSuites is the TLS 1.2 suite list for a clone of a config whose
// list is have (nil: crypto/tls's default): the ones tlsrec runs, so that a
// TLS 1.2 peer cannot pick a CBC or RSA key exchange suite. TLS 1.3 suites
// are not configurable in crypto/tls and tlsrec runs all of them. An empty
// result still lets TLS 1.3 be negotiated.
func restrictSuites(have []uint16) []uint16 {
	ours := tls12Suites()
	if have == nil {
		return ours
	}
	out := []uint16{}
	for _, id := range have {
		if slices.Contains(ours, id) {
			out = append(out, id)
		}
	}
	return out
}

// suiteNames names the suites tlsrec runs, for error messages.
func suiteNames() string {
	names := make([]string, len(suites))
	for i := range suites {
		names[i] = tls.CipherSuiteName(suites[i].id)
	}
	return strings.Join(names, ", ")
}

// aead builds the suite's AEAD for key. It is built per record rather than
// kept, so that a Session holds no pointers and stays small; the keys are
// the right length by construction, so an error here is a bug in tlsrec.
func (cs *suite) aead(key []byte) cipher.AEAD {
	if cs.chacha {
		a, err := chacha20poly1305.New(key)
		if err != nil {
			panic("tlsrec: " + err.Error())
		}
		return a
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("tlsrec: " + err.Error())
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic("tlsrec: " + err.Error())
	}
	return a
}
