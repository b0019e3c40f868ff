// Package wsecho is a WebSocket echo server for tests, built on an
// independent implementation (github.com/coder/websocket) so that imtool's
// codec and swarm are checked against someone else's reading of RFC 6455.
// It listens on loopback only.
package wsecho

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Options shape the server's behaviour.
type Options struct {
	// Subprotocols the server accepts (it picks the first the client asks for).
	Subprotocols []string
	// Refuse, when not 0, answers every upgrade with this HTTP status.
	Refuse int
	// CloseCode, when not 0, closes every connection with this code after
	// CloseAfter messages have been echoed (0: right after the upgrade).
	CloseCode  websocket.StatusCode
	CloseAfter int
	// Fragment, when > 0, echoes each message in frames of this many bytes.
	Fragment int
	// OnRequest, when set, sees every upgrade request before it is answered.
	OnRequest func(*http.Request)
}

// Server is a running echo server.
type Server struct {
	URL   string // ws://127.0.0.1:PORT/
	Addr  string // 127.0.0.1:PORT
	opts  Options
	srv   *http.Server
	ln    net.Listener
	ctx   context.Context
	stop  context.CancelFunc
	Open  atomic.Int64 // connections upgraded and not yet closed
	Upgr  atomic.Int64 // upgrades completed
	Msgs  atomic.Int64 // messages read (each is echoed)
	Bytes atomic.Int64 // their payload bytes
}

// Start listens on 127.0.0.1 on a port the kernel picks. Close it when done.
func Start(o Options) (*Server, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, ln: ln, Addr: ln.Addr().String()}
	s.URL = "ws://" + s.Addr + "/"
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// New starts a server for test tb and closes it at tb's cleanup.
func New(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := Start(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server and every connection.
func (s *Server) Close() {
	s.stop()
	_ = s.srv.Close()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if s.opts.OnRequest != nil {
		s.opts.OnRequest(r)
	}
	if s.opts.Refuse != 0 {
		http.Error(w, "refused by the test server", s.opts.Refuse)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: s.opts.Subprotocols, InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	s.Upgr.Add(1)
	s.Open.Add(1)
	defer s.Open.Add(-1)
	defer c.CloseNow()
	ctx := s.ctx
	n := 0
	for {
		if s.opts.CloseCode != 0 && n == s.opts.CloseAfter {
			_ = c.Close(s.opts.CloseCode, "closed by the test server")
			return
		}
		typ, rd, err := c.Reader(ctx)
		if err != nil {
			return
		}
		data, err := io.ReadAll(rd)
		if err != nil {
			return
		}
		n++
		s.Msgs.Add(1) // before the echo leaves: a client that has it sees it counted
		s.Bytes.Add(int64(len(data)))
		if err := s.write(ctx, c, typ, data); err != nil {
			return
		}
	}
}

func (s *Server) write(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, data []byte) error {
	if s.opts.Fragment <= 0 {
		return c.Write(ctx, typ, data)
	}
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		k := min(len(data), s.opts.Fragment)
		if _, err := w.Write(data[:k]); err != nil {
			return err
		}
		data = data[k:]
	}
	return w.Close()
}
