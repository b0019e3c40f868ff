package ws

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/imtool/imtool/internal/placeholder"
)

// guid is appended to the key before hashing (§4.2.2).
const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// MaxHandshake bounds an upgrade request or response, headers included.
const MaxHandshake = 8 << 10

// Key is a client's Sec-WebSocket-Key: 16 random bytes in base64.
type Key [24]byte

// NewKey makes a key from 128 random bits.
func NewKey(a, b uint64) Key {
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[:], a)
	binary.LittleEndian.PutUint64(raw[8:], b)
	var k Key
	base64.StdEncoding.Encode(k[:], raw[:])
	return k
}

// Accept is the Sec-WebSocket-Accept the server must answer key with:
// base64(SHA-1(key + GUID)).
func Accept(key []byte) [28]byte {
	var in [24 + len(guid)]byte
	n := copy(in[:], key)
	n += copy(in[n:], guid)
	sum := sha1.Sum(in[:n])
	var out [28]byte
	base64.StdEncoding.Encode(out[:], sum[:])
	return out
}

// Handshake is a client's upgrade request, parsed once for a swarm and
// filled per connection ({uid} and {i} in the path and headers).
type Handshake struct {
	host        string
	path        placeholder.Template
	headers     []placeholder.Template
	hostGiven   bool
	subprotocol string
}

// reserved are the headers the handshake itself writes.
var reserved = []string{"upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-accept", "sec-websocket-extensions"}

// NewHandshake parses the request's parts: host (the Host header), path
// (with its query), headers as "Name: value", and the subprotocol to ask
// for ("" for none).
func NewHandshake(host, path string, headers []string, subprotocol string) (*Handshake, error) {
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n") {
		return nil, fmt.Errorf("WebSocket path %q: give an absolute path without spaces, like /ws?token=x", path)
	}
	fields := []string{placeholder.UID, placeholder.I}
	h := &Handshake{host: host, subprotocol: subprotocol}
	var err error
	if h.path, err = placeholder.Parse(path, fields...); err != nil {
		return nil, fmt.Errorf("WebSocket path %q: %w", path, err)
	}
	if strings.ContainsAny(subprotocol, " ,\r\n") {
		return nil, fmt.Errorf("--ws-subprotocol %q: give one token, without spaces or commas", subprotocol)
	}
	for _, line := range headers {
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("--header %q: give one line as 'Name: value'", line)
		}
		for _, r := range reserved {
			if strings.EqualFold(name, r) {
				return nil, fmt.Errorf("--header %q: %s is part of the WebSocket handshake and is written by imtool", line, name)
			}
		}
		if strings.EqualFold(name, "host") {
			h.hostGiven = true
		}
		t, err := placeholder.Parse(name+": "+strings.TrimSpace(value), fields...)
		if err != nil {
			return nil, fmt.Errorf("--header %q: %w", line, err)
		}
		h.headers = append(h.headers, t)
	}
	return h, nil
}

// AppendRequest appends connection v's upgrade request with key.
func (h *Handshake) AppendRequest(dst []byte, v *placeholder.Values, key *Key) []byte {
	dst = append(dst, "GET "...)
	dst = h.path.Append(dst, v)
	dst = append(dst, " HTTP/1.1\r\n"...)
	if !h.hostGiven {
		dst = append(dst, "Host: "...)
		dst = append(dst, h.host...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key[:]...)
	dst = append(dst, "\r\n"...)
	if h.subprotocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, h.subprotocol...)
		dst = append(dst, "\r\n"...)
	}
	for i := range h.headers {
		dst = h.headers[i].Append(dst, v)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// Upgrade error classes: how a swarm counts a handshake the server did not
// complete. 401, 403, 429 and 503 are the answers gateways give on purpose
// (bad token, forbidden origin or user, rate limit, overload), each its
// own class; the HTTP status is in the error's text.
const (
	ClassUpgrade401     = "ws_upgrade_401"     // Unauthorized
	ClassUpgrade403     = "ws_upgrade_403"     // Forbidden
	ClassUpgrade429     = "ws_upgrade_429"     // Too Many Requests
	ClassUpgrade503     = "ws_upgrade_503"     // Service Unavailable
	ClassUpgradeStatus  = "ws_upgrade_status"  // any other status than 101
	ClassUpgradeInvalid = "ws_upgrade_invalid" // not HTTP, or a 101 that breaks RFC 6455
)

// UpgradeError is a failed upgrade: the server answered with Status (0
// when the answer was not HTTP or broke the handshake's rules).
type UpgradeError struct {
	Status int
	Msg    string
}

func (e *UpgradeError) Error() string {
	if e.Status != 0 && e.Status != 101 {
		return fmt.Sprintf("WebSocket upgrade refused: HTTP %d %s", e.Status, e.Msg)
	}
	return "WebSocket upgrade failed: " + e.Msg
}

// Class names the error's class (ClassUpgrade*).
func (e *UpgradeError) Class() string {
	switch e.Status {
	case 401:
		return ClassUpgrade401
	case 403:
		return ClassUpgrade403
	case 429:
		return ClassUpgrade429
	case 503:
		return ClassUpgrade503
	case 0, 101:
		return ClassUpgradeInvalid
	}
	return ClassUpgradeStatus
}

func invalid(format string, args ...any) *UpgradeError {
	return &UpgradeError{Msg: fmt.Sprintf(format, args...)}
}

// headerEnd is the length of the head (through the blank line) at the
// start of buf, 0 while it is incomplete.
func headerEnd(buf []byte) int {
	if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return 0
}

// CheckResponse reads the server's answer to the request sent with key.
// n is the length of the response head, 0 while it is incomplete (the
// bytes after it are the first frames). The upgrade succeeded only with a
// 101, Upgrade: websocket, Connection: Upgrade, the right
// Sec-WebSocket-Accept, no extension, and the subprotocol asked for (or
// none when none was asked for). Anything else is an *UpgradeError.
func (h *Handshake) CheckResponse(buf []byte, key *Key) (n int, err error) {
	n = headerEnd(buf)
	if n == 0 {
		if len(buf) > MaxHandshake {
			return 0, invalid("no end of the response head within %d bytes", MaxHandshake)
		}
		if len(buf) >= 5 && !bytes.HasPrefix(buf, []byte("HTTP/")) {
			return 0, invalid("the server's answer is not HTTP: %q", clip(buf))
		}
		return 0, nil
	}
	line, rest := cutLine(buf[:n])
	status, reason, ok := statusLine(line)
	if !ok {
		return 0, invalid("the server's answer is not HTTP: %q", clip(line))
	}
	if status != 101 {
		return 0, &UpgradeError{Status: status, Msg: string(reason)}
	}
	var upgrade, connection, accept, proto bool
	want := Accept(key[:])
	for len(rest) > 2 {
		line, rest = cutLine(rest)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, invalid("bad header line %q", clip(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = bytes.EqualFold(value, []byte("websocket"))
		case bytes.EqualFold(name, []byte("Connection")):
			connection = hasToken(value, "upgrade")
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			if !bytes.Equal(value, want[:]) {
				return 0, invalid("Sec-WebSocket-Accept is %q, RFC 6455 wants %q for our key", clip(value), string(want[:]))
			}
			accept = true
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			return 0, invalid("the server chose extensions %q that were not offered", clip(value))
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			if h.subprotocol == "" || string(value) != h.subprotocol {
				return 0, invalid("the server chose subprotocol %q; we asked for %q", clip(value), h.subprotocol)
			}
			proto = true
		}
	}
	switch {
	case !upgrade:
		return 0, invalid("101 without Upgrade: websocket")
	case !connection:
		return 0, invalid("101 without Connection: Upgrade")
	case !accept:
		return 0, invalid("101 without Sec-WebSocket-Accept")
	case h.subprotocol != "" && !proto:
		return 0, invalid("the server chose no subprotocol; we asked for %q", h.subprotocol)
	}
	return n, nil
}

// statusLine reads "HTTP/1.x NNN reason".
func statusLine(line []byte) (status int, reason []byte, ok bool) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, nil, false
		}
		status = status*10 + int(c-'0')
	}
	if len(line) > 12 {
		reason = bytes.TrimSpace(line[12:])
	}
	return status, reason, true
}

// cutLine splits off the first CRLF-terminated line.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+2:]
}

// hasToken tells whether a comma-separated header value holds tok
// (case-insensitive).
func hasToken(value []byte, tok string) bool {
	for len(value) > 0 {
		var t []byte
		t, value, _ = bytes.Cut(value, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(tok)) {
			return true
		}
	}
	return false
}

func clip(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// Request is a client's upgrade request as a server reads it; the slices
// point into the buffer given to ParseRequest.
type Request struct {
	Path      []byte
	Key       []byte
	Protocols []byte // Sec-WebSocket-Protocol as sent: comma-separated
}

// ParseRequest reads a client's upgrade request at the start of buf. n is
// its length, 0 while incomplete. A request that is not a valid upgrade is
// an *UpgradeError whose Status is the answer to give (400, or 426 for a
// version other than 13).
func ParseRequest(buf []byte) (n int, r Request, err error) {
	n = headerEnd(buf)
	if n == 0 {
		if len(buf) > MaxHandshake {
			return 0, r, &UpgradeError{Status: 431, Msg: "Request Header Fields Too Large"}
		}
		return 0, r, nil
	}
	line, rest := cutLine(buf[:n])
	method, target, ok := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(target, []byte(" "))
	if !ok || !ok2 || !bytes.Equal(method, []byte("GET")) || !bytes.HasPrefix(version, []byte("HTTP/1.1")) {
		return 0, r, &UpgradeError{Status: 400, Msg: "Bad Request: a WebSocket upgrade is GET … HTTP/1.1"}
	}
	r.Path = target
	var upgrade, connection, version13 bool
	for len(rest) > 2 {
		line, rest = cutLine(rest)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, r, &UpgradeError{Status: 400, Msg: "Bad Request: bad header line"}
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = hasToken(value, "websocket")
		case bytes.EqualFold(name, []byte("Connection")):
			connection = hasToken(value, "upgrade")
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Version")):
			version13 = bytes.Equal(value, []byte("13"))
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Key")):
			r.Key = value
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Protocol")):
			r.Protocols = value
		}
	}
	var raw [18]byte
	switch {
	case !upgrade || !connection:
		return 0, r, &UpgradeError{Status: 400, Msg: "Bad Request: not a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade)"}
	case !version13:
		return 0, r, &UpgradeError{Status: 426, Msg: "Upgrade Required: Sec-WebSocket-Version 13"}
	case len(r.Key) != 24:
		return 0, r, &UpgradeError{Status: 400, Msg: "Bad Request: Sec-WebSocket-Key is not 16 bytes in base64"}
	}
	if m, err := base64.StdEncoding.Decode(raw[:], r.Key); err != nil || m != 16 {
		return 0, r, &UpgradeError{Status: 400, Msg: "Bad Request: Sec-WebSocket-Key is not 16 bytes in base64"}
	}
	return n, r, nil
}

// AppendAccept appends the 101 that completes the upgrade of key, choosing
// subprotocol ("" for none).
func AppendAccept(dst, key []byte, subprotocol string) []byte {
	a := Accept(key)
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, a[:]...)
	dst = append(dst, "\r\n"...)
	if subprotocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, subprotocol...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// AppendRefusal appends an HTTP answer that refuses an upgrade with
// status; msg is the body, for the person reading a capture.
func AppendRefusal(dst []byte, status int, msg string) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	if status == 426 {
		dst = append(dst, "\r\nSec-WebSocket-Version: 13"...)
	}
	dst = append(dst, "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(msg)+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, msg...)
	return append(dst, '\n')
}
