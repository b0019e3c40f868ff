package ws_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/placeholder"
	"github.com/imtool/imtool/internal/ws"
)

// The RFC 6455 §1.3 example key and accept.
func TestAcceptRFCExample(t *testing.T) {
	a := ws.Accept([]byte("dGhlIHNhbXBsZSBub25jZQ=="))
	if string(a[:]) != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept %s", a[:])
	}
}

// The request carries the fixed headers, the subprotocol, and the user's
// headers with {uid} and {i} filled; the server side reads it back.
func TestRequest(t *testing.T) {
	h, err := ws.NewHandshake("gw:443", "/ws?user={uid}", []string{"Cookie: s={uid}-{i}", "X-Index:{i}"}, "chat")
	if err != nil {
		t.Fatal(err)
	}
	key := ws.NewKey(1, 2)
	req := string(h.AppendRequest(nil, &placeholder.Values{UID: 1001, I: 5}, &key))
	for _, want := range []string{"GET /ws?user=1001 HTTP/1.1\r\n", "Host: gw:443\r\n", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n",
		"Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Key: " + string(key[:]) + "\r\n", "Sec-WebSocket-Protocol: chat\r\n",
		"Cookie: s=1001-5\r\n", "X-Index: 5\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q:\n%s", want, req)
		}
	}
	n, r, err := ws.ParseRequest([]byte(req + "extra"))
	if err != nil || n != len(req) || string(r.Key) != string(key[:]) || string(r.Path) != "/ws?user=1001" || string(r.Protocols) != "chat" {
		t.Fatalf("ParseRequest: n=%d/%d key %q path %q protos %q err %v", n, len(req), r.Key, r.Path, r.Protocols, err)
	}
	resp := ws.AppendAccept(nil, r.Key, "chat")
	if m, err := h.CheckResponse(append(resp, 0x82, 0), &key); err != nil || m != len(resp) {
		t.Fatalf("CheckResponse of our own 101: %d %v", m, err)
	}
}

func TestHandshakeRefusesBadInput(t *testing.T) {
	for _, hdr := range []string{"NoColon", "Upgrade: h2c", "Sec-WebSocket-Key: x", "X: {user}", "Bad Name: v"} {
		if _, err := ws.NewHandshake("h", "/", []string{hdr}, ""); err == nil {
			t.Errorf("header %q accepted", hdr)
		}
	}
	if _, err := ws.NewHandshake("h", "no-slash", nil, ""); err == nil {
		t.Error("path without / accepted")
	}
}

// Every way a 101 can break the handshake is an invalid upgrade; a
// response split anywhere is incomplete until its blank line.
func TestCheckResponse(t *testing.T) {
	h, _ := ws.NewHandshake("h", "/", nil, "")
	key := ws.NewKey(3, 4)
	a := ws.Accept(key[:])
	good := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: " + string(a[:]) + "\r\n\r\n"
	for i := 0; i < len(good); i++ {
		if n, err := h.CheckResponse([]byte(good[:i]), &key); n != 0 || err != nil {
			t.Fatalf("%d bytes: %d %v", i, n, err)
		}
	}
	if n, err := h.CheckResponse([]byte(good), &key); n != len(good) || err != nil {
		t.Fatalf("good: %d %v", n, err)
	}
	for name, resp := range map[string]string{
		"wrong accept":   strings.Replace(good, string(a[:4]), "AAAA", 1),
		"no upgrade":     strings.Replace(good, "Upgrade: WebSocket\r\n", "", 1),
		"no connection":  strings.Replace(good, "keep-alive, Upgrade", "keep-alive", 1),
		"extension":      strings.Replace(good, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1),
		"unasked proto":  strings.Replace(good, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: x\r\n\r\n", 1),
		"not HTTP":       "SSH-2.0-OpenSSH_9.2\r\n\r\n",
		"not HTTP early": "\x00\x00\x00\x10\x02",
	} {
		_, err := h.CheckResponse([]byte(resp), &key)
		var ue *ws.UpgradeError
		if !errors.As(err, &ue) || ue.Class() != ws.ClassUpgradeInvalid {
			t.Errorf("%s: got %v, want class %s", name, err, ws.ClassUpgradeInvalid)
		}
	}
}
