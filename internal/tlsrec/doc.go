// Package tlsrec runs TLS on an event loop: crypto/tls does the handshake
// (on a goroutine, with blocking I/O), then a record layer of its own
// carries the connection on the raw socket bytes, with a state of 240
// bytes and no pointers per connection (Session).
//
// Client and Server take the traffic secrets from crypto/tls through
// Config.KeyLogWriter (CLIENT_TRAFFIC_SECRET_0 and SERVER_TRAFFIC_SECRET_0
// in TLS 1.3; CLIENT_RANDOM, with the hello randoms read from the
// handshake's records, in TLS 1.2), and feed crypto/tls one record at a
// time, so that nothing past the handshake is lost inside it: the bytes
// read beyond it come back as Handover.Pending, and the sequence numbers
// start where crypto/tls left them.
//
// It runs TLS 1.3 (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
// TLS_CHACHA20_POLY1305_SHA256, with KeyUpdate both ways) and TLS 1.2
// ECDHE with AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305 (ECDSA or RSA
// certificates), full and resumed handshakes. It does not renegotiate TLS
// 1.2, take post-handshake client authentication, or send early data; a
// peer that tries gets an error. Every error of Open says what the peer
// sent and has a Class and a Fix for a person at a terminal.
package tlsrec
