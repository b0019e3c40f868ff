package wire

import "testing"

func TestToken(t *testing.T) {
	// HMAC-SHA256("s3cret", "42"), computed independently with openssl:
	// printf 42 | openssl dgst -sha256 -hmac s3cret
	const want = "982005f6c4662ae06eaa3ba4eac3c6459bc772386f3c8ac329b503a2ee32276e"
	got := string(Token([]byte("s3cret"), 42))
	if got != want {
		t.Fatalf("token %q, want %q", got, want)
	}
	if !ValidToken([]byte("s3cret"), 42, []byte(got)) || ValidToken([]byte("s3cret"), 43, []byte(got)) || ValidToken([]byte("other"), 42, []byte(got)) {
		t.Fatal("ValidToken accepts the wrong uid or secret")
	}
}
