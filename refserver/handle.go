package refserver

import (
	"time"

	"github.com/imtool/imtool/refserver/wire"
)

// handle acts on one frame from s. It returns false when the session is
// finished and the rest of its input must be ignored.
func (g *Gateway) handle(s *session, f *wire.Frame) bool {
	s.mu.Lock()
	state, uid := s.state, s.uid
	s.mu.Unlock()
	if state == stateNew {
		if f.Type != wire.TypeLogin {
			g.sendError(s, wire.CodeNotLoggedIn, "the first frame must be LOGIN")
			return false
		}
		return g.login(s, f)
	}
	switch f.Type {
	case wire.TypePing:
		ts := f.TS
		s.queue(g, func(b []byte) []byte { return wire.AppendPong(b, ts) })
	case wire.TypeSend:
		g.send(s, uid, f)
	case wire.TypeBroadcast:
		g.broadcast(s, uid, f)
	case wire.TypeLogout:
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		return false
	case wire.TypeLogin:
		g.sendError(s, wire.CodeBadFrame, "already logged in")
		return false
	default:
		g.sendError(s, wire.CodeUnknownType, wire.TypeName(f.Type)+" is not a client frame")
		return false
	}
	return true
}

func (g *Gateway) login(s *session, f *wire.Frame) bool {
	if g.opts.AuthSecret != nil && !wire.ValidToken(g.opts.AuthSecret, f.UID, f.Token) {
		g.sendError(s, wire.CodeLoginRejected, "bad token")
		return false
	}
	s.mu.Lock()
	s.uid, s.state = f.UID, stateLoggedIn
	s.seen.Store(g.now())
	s.mu.Unlock()
	g.sessions.Add(1)
	if old := g.reg.claim(f.UID, s); old != nil {
		g.kick(old, wire.CodeDuplicateLogin)
	}
	if g.link != nil {
		g.link.online(f.UID)
	}
	uid, sid, now := f.UID, g.sessionSeq.Add(1), uint64(time.Now().UnixMilli())
	s.queue(g, func(b []byte) []byte { return wire.AppendLoginOK(b, uid, sid, now) })
	return true
}

// kick sends KICK code to s and closes it.
func (g *Gateway) kick(s *session, code uint16) {
	g.kicks.Add(1)
	s.finish(g, func(b []byte) []byte { return wire.AppendKick(b, code) })
	s.conn.Wake()
}

// kickUID kicks the local session of uid, if any: the dispatcher saw a
// newer login on another gateway, so uid is no longer routed here.
func (g *Gateway) kickUID(uid uint64) {
	if s := g.reg.lookup(uid); s != nil && g.reg.release(uid, s) {
		g.kick(s, wire.CodeDuplicateLogin)
	}
}

func (g *Gateway) send(s *session, from uint64, f *wire.Frame) {
	status := wire.AckOffline
	if to := g.reg.lookup(f.ToUID); to != nil {
		status = g.deliverTo(to, f.MsgID, from, f.SentTS, f.Payload)
	}
	if status != wire.AckDelivered && g.link != nil {
		// Not here, or its session here is on its way out: the dispatcher knows.
		if g.link.route(s, f.MsgID, from, f.ToUID, f.SentTS, f.Payload) {
			return // the ACK comes with the dispatcher's answer
		}
		status = wire.AckRouteUnavailable
	}
	g.ack(s, f.MsgID, status, false)
}

// ack queues ACK status for msgID on s; wake when called off s's loop.
func (g *Gateway) ack(s *session, msgID uint64, status uint8, wake bool) {
	s.queue(g, func(b []byte) []byte { return wire.AppendAck(b, msgID, status) })
	if wake {
		s.conn.Wake()
	}
}

// deliverTo queues a DELIVER on s and says whether it was queued.
func (g *Gateway) deliverTo(s *session, msgID, from, sentTS uint64, payload []byte) uint8 {
	if !s.queue(g, func(b []byte) []byte { return wire.AppendDeliver(b, msgID, from, sentTS, payload) }) {
		return wire.AckOffline
	}
	s.conn.Wake()
	return wire.AckDelivered
}

// deliverUID delivers to the local session of uid (a route from the dispatcher).
func (g *Gateway) deliverUID(to, msgID, from, sentTS uint64, payload []byte) uint8 {
	s := g.reg.lookup(to)
	if s == nil {
		return wire.AckOffline
	}
	return g.deliverTo(s, msgID, from, sentTS, payload)
}

func (g *Gateway) broadcast(s *session, from uint64, f *wire.Frame) {
	if !g.opts.Broadcast {
		g.ack(s, f.MsgID, wire.AckNotAllowed, false)
		return
	}
	if len(f.Payload) > wire.MaxVarLen(wire.TypeDeliver, g.opts.MaxFrame) {
		g.ack(s, f.MsgID, wire.AckTooLarge, false) // its DELIVER would not fit a frame
		return
	}
	g.deliverAll(f.MsgID, from, f.SentTS, f.Payload)
	if g.link != nil {
		g.link.broadcast(f.MsgID, from, f.SentTS, f.Payload)
	}
	g.ack(s, f.MsgID, wire.AckDelivered, false)
}

// deliverAll queues one DELIVER on every local logged-in session.
func (g *Gateway) deliverAll(msgID, from, sentTS uint64, payload []byte) {
	g.reg.each(func(t *session) {
		if _, in := t.loggedIn(); in {
			g.deliverTo(t, msgID, from, sentTS, payload)
		}
	})
}
