package tlsrec

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
)

// secrets collects what one connection's handshake tells of its keys.
// crypto/tls calls it on the handshake's goroutine only.
type secrets struct {
	next io.Writer // the caller's own KeyLogWriter, still fed every line

	master  []byte // CLIENT_RANDOM: the TLS 1.2 master secret of a full handshake
	resumed []byte // the TLS 1.2 master secret the resumed session carries (withMaster)
	client  []byte // CLIENT_TRAFFIC_SECRET_0 (TLS 1.3)
	server  []byte // SERVER_TRAFFIC_SECRET_0 (TLS 1.3)
}

// Write takes one key log line of crypto/tls (NSS key log format: label,
// client random, secret, in hex).
func (k *secrets) Write(line []byte) (int, error) {
	if f := bytes.Fields(line); len(f) == 3 {
		var dst *[]byte
		switch string(f[0]) {
		case "CLIENT_RANDOM":
			dst = &k.master
		case "CLIENT_TRAFFIC_SECRET_0":
			dst = &k.client
		case "SERVER_TRAFFIC_SECRET_0":
			dst = &k.server
		}
		if dst != nil {
			b, err := hex.AppendDecode(nil, f[2])
			if err != nil {
				return 0, fmt.Errorf("tlsrec: key log line %s: %w", f[0], err)
			}
			*dst = b
		}
	}
	if k.next != nil {
		return k.next.Write(line)
	}
	return len(line), nil
}

// master12 is the TLS 1.2 master secret of the handshake: logged by a full
// handshake, carried by the session a resumed one reused.
func (k *secrets) master12() []byte {
	if k.master != nil {
		return k.master
	}
	return k.resumed
}

// sessionCache is the client's session cache seen through tlsrec: TLS 1.2
// sessions are stored with their master secret in Extra, and a session
// handed out for resumption gives its master secret back.
type sessionCache struct {
	tls.ClientSessionCache
	k *secrets
}

func (c *sessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	cs, ok := c.ClientSessionCache.Get(key)
	if ok && cs != nil {
		if _, st, err := cs.ResumptionState(); err == nil && st != nil {
			c.k.resumed = masterIn(st.Extra)
		}
	}
	return cs, ok
}

// Put stores cs; a TLS 1.2 session (stored during the handshake, before
// any TLS 1.3 traffic secret could be logged) with the master secret. A
// session whose state cannot be read is stored as it is: resuming it
// fails in Client with an error that says so.
func (c *sessionCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil && c.k.client == nil && c.k.master12() != nil {
		if ticket, st, err := cs.ResumptionState(); err == nil && st != nil {
			st.Extra = withMaster(st.Extra, c.k.master12())
			if ncs, err := tls.NewResumptionState(ticket, st); err == nil {
				cs = ncs
			}
		}
	}
	c.ClientSessionCache.Put(key, cs)
}

// wrapSessions makes cfg's session tickets carry the TLS 1.2 master
// secret, and hands the one of a resumed session to k. Tickets are sealed
// and opened by base (its WrapSession/UnwrapSession, else its ticket
// keys), the caller's config: a per-connection clone would otherwise make
// ticket keys of its own that no other connection knows.
func (k *secrets) wrapSessions(cfg, base *tls.Config) {
	wrap, unwrap := base.WrapSession, base.UnwrapSession
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		if m := k.master12(); cs.Version == tls.VersionTLS12 && m != nil {
			ss.Extra = withMaster(ss.Extra, m)
		}
		if wrap != nil {
			return wrap(cs, ss)
		}
		return base.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		var ss *tls.SessionState
		var err error
		if unwrap != nil {
			ss, err = unwrap(identity, cs)
		} else {
			ss, err = base.DecryptTicket(identity, cs)
		}
		if ss != nil {
			k.resumed = masterIn(ss.Extra)
		}
		return ss, err
	}
}
