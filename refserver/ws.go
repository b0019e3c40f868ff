package refserver

import (
	"bytes"
	"errors"

	"github.com/imtool/imtool/internal/evio"
	"github.com/imtool/imtool/internal/wire"
	"github.com/imtool/imtool/internal/ws"
)

// WebSocket sessions (--ws-ports): the same sessions, frames and
// dispatcher as on the plain ports, with imtool frames carried in binary
// WebSocket messages. The payloads of a connection's binary messages form
// one byte stream of imtool frames (a frame may span messages, a message
// may hold several); each frame the gateway sends is one binary message.

// Session WebSocket states.
const (
	wsNone      uint8 = iota // a plain imtool connection
	wsUpgrading              // waiting for the HTTP upgrade request
	wsOpen                   // upgraded: frames in and out are WebSocket frames
)

// listenPorts are the plain ports then the WebSocket ports: evio's address
// index, the per-port counters and Snapshot's port list use this order.
func (g *Gateway) listenPorts() []uint16 {
	return append(append(make([]uint16, 0, len(g.opts.Ports)+len(g.opts.WSPorts)), g.opts.Ports...), g.opts.WSPorts...)
}

// wsState is the state a connection accepted on address index i starts in.
func (g *Gateway) wsState(i int) uint8 {
	if i >= len(g.opts.Ports) {
		return wsUpgrading
	}
	return wsNone
}

// refusal is what a connection refused at accept gets: an imtool ERROR on
// a plain port, an HTTP status before the upgrade on a WebSocket port (503
// for both full and shutting down, which is what proxies and WebSocket
// clients understand).
func (g *Gateway) refusal(c evio.Conn, code uint16, reason string) []byte {
	if g.wsState(c.AddrIndex()) == wsUpgrading {
		return ws.AppendRefusal(nil, 503, reason)
	}
	return wire.AppendError(nil, code, reason)
}

// wsReserve is room left before a frame is built, for its WebSocket header.
var wsReserve [10]byte

// frame appends the frame build writes to out: as is on a plain
// connection, in one binary message on an upgraded one, and not at all
// before the upgrade (the connection closes without a word then). Call
// with mu held.
func (s *session) frame(out []byte, build func([]byte) []byte) []byte {
	switch s.ws {
	case wsNone:
		return build(out)
	case wsUpgrading:
		return out
	}
	start := len(out)
	out = build(append(out, wsReserve[:]...))
	n := len(out) - start - len(wsReserve)
	var hdr [ws.MaxHeader]byte
	h := ws.AppendHeader(hdr[:0], ws.OpBinary, true, n, false, [4]byte{})
	copy(out[start+len(h):], out[start+len(wsReserve):])
	copy(out[start:], h)
	return out[:start+len(h)+n]
}

// wsEnd queues a close frame after a finished session's last imtool frame.
// Call with mu held.
func (s *session) wsEnd(code uint16) {
	if s.ws == wsOpen {
		b := s.buffers()
		b.out = ws.AppendClose(b.out, code, "", false, [4]byte{})
	}
}

// wsInput takes a WebSocket connection's bytes from the socket and returns
// the imtool bytes they carry: the upgrade is answered, frames unmasked and
// unwrapped in place (in is evio's buffer, ours during the callback), pings
// answered, a close answered and the session finished. A frame split
// across reads waits in bufs.ws.
func (g *Gateway) wsInput(s *session, in []byte) []byte {
	out := g.wsUnwrap(s, in)
	g.bytesIn.Add(int64(len(in) - len(out))) // input counts the rest
	return out
}

func (g *Gateway) wsUnwrap(s *session, in []byte) []byte {
	s.mu.Lock()
	buf, kept := in, false
	if s.bufs != nil && len(s.bufs.ws) > 0 {
		s.bufs.ws = append(s.bufs.ws, in...)
		buf, kept = s.bufs.ws, true
	}
	state := s.ws
	s.mu.Unlock()
	out := buf[:0] // unwrapped payloads, always behind the bytes still to parse
	if state == wsUpgrading {
		n, r, err := ws.ParseRequest(buf)
		var ue *ws.UpgradeError
		switch {
		case errors.As(err, &ue):
			s.mu.Lock()
			b := s.buffers()
			b.out = ws.AppendRefusal(b.out, ue.Status, ue.Msg)
			b.ws, s.closing = nil, true
			s.mu.Unlock()
			g.wsBadUpgrades.Add(1)
			return nil
		case n == 0:
			g.wsKeep(s, buf, kept, 0)
			return nil
		}
		s.mu.Lock()
		b := s.buffers()
		b.out = ws.AppendAccept(b.out, r.Key, chooseSubprotocol(r.Protocols))
		s.ws = wsOpen
		s.mu.Unlock()
		buf = buf[n:]
		out = buf[:0]
	}
	for len(buf) > 0 {
		f, n, err := ws.NextFrame(buf, g.opts.MaxQueue, true)
		if err != nil {
			var we *ws.Error
			errors.As(err, &we)
			g.wsClose(s, we.Code, we.Msg)
			return out
		}
		if n == 0 {
			break
		}
		switch f.Op {
		case ws.OpBinary, ws.OpContinuation:
			out = append(out, f.Payload...)
		case ws.OpText:
			g.wsClose(s, ws.CloseUnsupported, "imtool frames travel in binary messages")
			return out
		case ws.OpPing:
			s.mu.Lock()
			if !s.closing && !s.dead {
				b := s.buffers()
				b.out = ws.AppendFrame(b.out, ws.OpPong, true, f.Payload, false, [4]byte{})
			}
			s.mu.Unlock()
		case ws.OpClose:
			code, _, err := ws.ParseClose(f.Payload)
			if err != nil {
				var we *ws.Error
				errors.As(err, &we)
				code = we.Code
			} else if code == ws.CloseNoStatus {
				code = ws.CloseNormal
			}
			g.wsClose(s, code, "")
			return out
		}
		buf = buf[n:]
	}
	g.wsKeep(s, buf, kept, len(out))
	return out
}

// wsKeep keeps the unparsed rest of the input for the next read. When the
// input was bufs.ws itself, the rest is copied out first: the unwrapped
// payload before it (used bytes) is still to be read.
func (g *Gateway) wsKeep(s *session, rest []byte, kept bool, used int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(rest) == 0 && s.bufs != nil:
		s.bufs.ws = nil
		s.trimBuffers()
	case len(rest) == 0:
	case kept && used == 0:
		s.bufs.ws = append(s.bufs.ws[:0], rest...)
	default:
		s.buffers().ws = append([]byte(nil), rest...)
	}
}

// wsClose answers a close (or a broken rule) with close code and finishes
// the session.
func (g *Gateway) wsClose(s *session, code uint16, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing && !s.dead {
		b := s.buffers()
		b.out = ws.AppendClose(b.out, code, reason, false, [4]byte{})
	}
	s.closing = true
}

// chooseSubprotocol answers a request for "imtool" with it, and any other
// list with none (the client then decides).
func chooseSubprotocol(offered []byte) string {
	for len(offered) > 0 {
		var p []byte
		p, offered, _ = bytes.Cut(offered, []byte(","))
		if string(bytes.TrimSpace(p)) == "imtool" {
			return "imtool"
		}
	}
	return ""
}
