package tlsrec

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// DefaultTicketWait is Options.TicketWait when it is 0. A Go server sends
// its ticket with its Finished, so it is in hand at once; OpenSSL (nginx,
// mosquitto) sends its tickets when the client's Finished arrives, one
// round trip after the handshake ends on the client. 20 ms covers the
// round trips of a LAN or a region, and is what a handshake costs extra
// when the server sends no ticket at all.
const DefaultTicketWait = 20 * time.Millisecond

// Options tune Client.
type Options struct {
	// TicketWait bounds how long Client waits, after a TLS 1.3 handshake
	// with cfg.ClientSessionCache set (and SessionTicketsDisabled not), for
	// the server's NewSessionTickets
	// (0: DefaultTicketWait). The tickets at the head of what the server
	// sends go to crypto/tls, which stores them in the cache; Client stops
	// at the first record that is not one (left for Open), once no further
	// whole record is already in hand after a ticket, or when TicketWait
	// has passed. A ticket that comes later reaches Open, which counts
	// and drops it: that connection's session is then not resumable. So a
	// longer wait buys resumption over slower paths, at the price of that
	// much more handshake time with servers that send no ticket.
	TicketWait time.Duration

	// Context is the handshake's context (nil: context.Background()), as
	// for tls.Conn.HandshakeContext: its values reach the config's
	// callbacks (CertificateRequestInfo.Context), and its end aborts the
	// handshake.
	Context context.Context
}

// Handover is what Client and Server hand over besides the Session.
type Handover struct {
	// Pending are bytes read from the conn past the handshake: records (the
	// last maybe partial) for Open, before anything read later.
	Pending []byte
	// State is the handshake's outcome (DidResume, NegotiatedProtocol,
	// PeerCertificates, ...).
	State tls.ConnectionState
	// Tickets is how many NewSessionTickets crypto/tls stored in the
	// session cache before the handover.
	Tickets int
}

// Client runs a client handshake with crypto/tls over conn and returns the
// Session that carries the connection on from there. cfg (not nil, as for
// crypto/tls) is used through a clone: its KeyLogWriter captures the traffic secrets (and still feeds
// cfg.KeyLogWriter), its TLS 1.2 cipher suites are cut to the ones tlsrec
// runs (so a TLS 1.2 server cannot pick a CBC suite), its MinVersion is at
// least TLS 1.2, and its ClientSessionCache (when set) stores TLS 1.2
// sessions with their master secret, which resuming them needs. The
// handshake honours conn's deadline; waiting for tickets (Options) sets a
// read deadline of its own and clears it after. Once Client returns, conn
// is the caller's: crypto/tls holds nothing of it and must not be used.
func Client(conn net.Conn, cfg *tls.Config, opt Options) (*Session, Handover, error) {
	k := &secrets{next: cfg.KeyLogWriter}
	c := cfg.Clone()
	if err := restrict(c); err != nil {
		return nil, Handover{}, err
	}
	c.KeyLogWriter = k
	if cfg.ClientSessionCache != nil {
		c.ClientSessionCache = &sessionCache{ClientSessionCache: cfg.ClientSessionCache, k: k}
	}
	rc := &recordConn{Conn: conn}
	tc := tls.Client(rc, c)
	ctx := opt.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, Handover{}, fmt.Errorf("TLS handshake with %s: %w", conn.RemoteAddr(), err)
	}
	st := tc.ConnectionState()
	s, err := newSession(st, k, rc, false)
	if err != nil {
		return nil, Handover{}, err
	}
	h := Handover{State: st}
	if st.Version == tls.VersionTLS13 && cfg.ClientSessionCache != nil && !cfg.SessionTicketsDisabled {
		wait := opt.TicketWait
		if wait == 0 {
			wait = DefaultTicketWait
		}
		if h.Tickets, err = takeTickets(tc, rc, s, wait); err != nil {
			return nil, Handover{}, err
		}
	}
	h.Pending = pending(rc)
	return s, h, nil
}

// Server runs a server handshake with crypto/tls over conn, like Client.
// cfg is used through a clone, also for the config GetConfigForClient
// returns: the key log as for Client, the same cut of TLS 1.2 suites, and
// session tickets that carry the TLS 1.2 master secret; they are still
// sealed with cfg's ticket keys (or its WrapSession), so that every
// connection resumes the others' sessions. crypto/tls sends a TLS 1.3
// ticket under the application key during the handshake; Server counts it
// in the write sequence number, so tickets need not be disabled.
func Server(conn net.Conn, cfg *tls.Config) (*Session, Handover, error) {
	k := &secrets{}
	c, err := k.serverConfig(cfg)
	if err != nil {
		return nil, Handover{}, err
	}
	if get := cfg.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			own, err := get(hello)
			if own == nil || err != nil {
				return own, err
			}
			return k.serverConfig(own)
		}
	}
	rc := &recordConn{Conn: conn}
	tc := tls.Server(rc, c)
	if err := tc.Handshake(); err != nil {
		return nil, Handover{}, fmt.Errorf("TLS handshake with %s: %w", conn.RemoteAddr(), err)
	}
	st := tc.ConnectionState()
	s, err := newSession(st, k, rc, true)
	if err != nil {
		return nil, Handover{}, err
	}
	return s, Handover{Pending: pending(rc), State: st}, nil
}

// serverConfig is the clone of base a server handshake runs with.
func (k *secrets) serverConfig(base *tls.Config) (*tls.Config, error) {
	c := base.Clone()
	if err := restrict(c); err != nil {
		return nil, err
	}
	k.next = base.KeyLogWriter
	c.KeyLogWriter = k
	c.GetConfigForClient = nil
	k.wrapSessions(c, base)
	return c, nil
}

// restrict keeps c to what tlsrec runs: TLS 1.2 and up, and TLS 1.2
// suites among those of suites.
func restrict(c *tls.Config) error {
	if c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS12 {
		return fmt.Errorf("tlsrec: the TLS config allows nothing above %s; tlsrec runs TLS 1.2 and 1.3", tls.VersionName(c.MaxVersion))
	}
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	c.CipherSuites = restrictSuites(c.CipherSuites)
	if len(c.CipherSuites) == 0 && c.MaxVersion == tls.VersionTLS12 {
		return fmt.Errorf("tlsrec: none of the TLS config's cipher suites is one tlsrec runs (%s)", suiteNames())
	}
	return nil
}

// newSession builds the session the handshake ended in, from the secrets
// it logged and the records c saw.
func newSession(st tls.ConnectionState, k *secrets, c *recordConn, server bool) (*Session, error) {
	idx, ok := suiteIndex(st.Version, st.CipherSuite)
	if !ok {
		return nil, &UnsupportedError{Version: st.Version, Suite: st.CipherSuite}
	}
	s := &Session{version: st.Version, suite: idx, server: server}
	cs := &suites[idx]
	clientLog, serverLog := &c.sent, &c.got
	if server {
		clientLog, serverLog = serverLog, clientLog
	}
	if cs.tls13 {
		if k.client == nil || k.server == nil {
			return nil, errors.New("tlsrec: crypto/tls logged no TLS 1.3 traffic secrets")
		}
		s.out.setSecret(cs, k.client)
		s.in.setSecret(cs, k.server)
		if server {
			s.in, s.out = s.out, s.in
		}
	} else {
		master := k.master12()
		if master == nil {
			return nil, errors.New("tlsrec: no TLS 1.2 master secret: the handshake resumed a session stored without tlsrec, whose secret crypto/tls does not tell")
		}
		cr, err := helloRandom(clientLog.recs, typeClientHello)
		if err != nil {
			return nil, fmt.Errorf("tlsrec: ClientHello: %w", err)
		}
		sr, err := helloRandom(serverLog.recs, typeServerHello)
		if err != nil {
			return nil, fmt.Errorf("tlsrec: ServerHello: %w", err)
		}
		s.setKeys12(master, cr, sr)
	}
	var err error
	if s.out.seq, err = under(cs, s.out, c.sent.recs); err != nil {
		return nil, err
	}
	if s.in.seq, err = under(cs, s.in, c.got.recs); err != nil {
		return nil, err
	}
	if !cs.tls13 && (s.out.seq != 1 || s.in.seq != 1) {
		return nil, errors.New("tlsrec: the TLS 1.2 keys do not open the handshake's Finished records; the master secret or the hello randoms were not this connection's")
	}
	return s, nil
}

// under counts the records at the end of recs that d's keys open, from
// sequence number 0: the ones crypto/tls already sent or received under
// the keys the session starts with, which is where its sequence number
// starts. These are the TLS 1.2 Finished of each side and the TLS 1.3
// tickets a server sends in its first flight; crypto/tls tells neither, so
// they are found by opening the records, which only the right keys do.
func under(cs *suite, d direction, recs [][]byte) (uint64, error) {
	d.seq = 0
	for i, r := range recs {
		if len(r)-recordHeader < cs.overhead() {
			continue
		}
		if _, _, e := d.open(cs, nil, r); e != nil {
			continue
		}
		for _, r := range recs[i+1:] {
			if len(r)-recordHeader < cs.overhead() {
				return 0, errors.New("tlsrec: a record too short to be encrypted after the first under the session's keys")
			}
			if _, _, e := d.open(cs, nil, r); e != nil {
				return 0, fmt.Errorf("tlsrec: after the first record under the session's keys, one they do not open: %w", e)
			}
		}
		return d.seq, nil
	}
	return 0, nil
}

// takeTickets lets crypto/tls take the NewSessionTickets at the head of
// what the server sends after a TLS 1.3 handshake, so that they reach the
// session cache (Options.TicketWait). Only whole records that hold nothing
// but tickets pass to crypto/tls, so it never holds application data or a
// partial record; each one it takes moves the read sequence number.
func takeTickets(tc *tls.Conn, c *recordConn, s *Session, wait time.Duration) (int, error) {
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return 0, fmt.Errorf("tlsrec: waiting for session tickets: %w", err)
	}
	defer c.SetReadDeadline(time.Time{})
	c.gated = true
	taken := 0
	for taken == 0 || c.recordInHand() {
		rec, ok, err := c.nextRecord()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.EOF):
			return taken, nil
		case err != nil:
			return taken, fmt.Errorf("tlsrec: waiting for session tickets: %w", err)
		case !ok || !s.onlyTickets(rec):
			return taken, nil
		}
		c.pass = 1
		var b [1]byte
		if _, err := tc.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			return taken, fmt.Errorf("tlsrec: crypto/tls did not take the server's session ticket: %w", err)
		}
		s.in.seq++
		taken++
	}
	return taken, nil
}

// onlyTickets tells whether rec, the next record from the server, holds
// whole NewSessionTicket messages and nothing else. It opens a copy of the
// read direction: the session does not move.
func (s *Session) onlyTickets(rec []byte) bool {
	cs := &suites[s.suite]
	if s.checkHeader(cs, rec[0], uint16(rec[1])<<8|uint16(rec[2]), len(rec)-recordHeader) != nil {
		return false
	}
	d := s.in
	msgs, typ, e := d.open(cs, nil, rec)
	if e != nil || typ != recordHandshake || len(msgs) == 0 {
		return false
	}
	for len(msgs) > 0 {
		if len(msgs) < 4 || msgs[0] != typeNewSessionTicket {
			return false
		}
		n := 4 + (int(msgs[1])<<16 | int(msgs[2])<<8 | int(msgs[3]))
		if len(msgs) < n {
			return false
		}
		msgs = msgs[n:]
	}
	return true
}

// pending is a copy of what c holds past the records crypto/tls took, nil
// when nothing: c's buffer is sized for a whole record and not worth
// keeping.
func pending(c *recordConn) []byte {
	if len(c.hand) == 0 {
		return nil
	}
	return append([]byte(nil), c.hand...)
}
