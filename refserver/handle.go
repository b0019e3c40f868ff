package refserver

import (
	"time"

	"github.com/imtool/imtool/internal/wire"
)

// handle acts on one frame from s, on s's loop. It returns false when the
// session is finished and the rest of its input must be ignored.
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
	uid, sid, now := f.UID, g.sessionSeq.Add(1), uint64(time.Now().UnixMilli())
	s.mu.Lock()
	s.uid, s.state = uid, stateLoggedIn
	s.mu.Unlock()
	s.seen.Store(g.now())
	g.sessions.Add(1)
	// LOGIN_OK is queued before the session can be found by uid, so a
	// newer login can only kick it after its LOGIN_OK.
	s.queue(g, func(b []byte) []byte { return wire.AppendLoginOK(b, uid, sid, now) })
	old, at := g.reg.claim(uid, s, sid, g.loginClock())
	if old != nil {
		g.kick(old, wire.CodeDuplicateLogin)
	}
	if g.link != nil {
		g.link.online(uid, sid, at)
	}
	return true
}

// kick sends KICK code to s and closes it.
func (g *Gateway) kick(s *session, code uint16) {
	if s.finish(g, func(b []byte) []byte { return wire.AppendKick(b, code) }) {
		g.kicks.Add(1)
	}
	s.conn.Wake()
}

// kickSession kicks login sid of uid, if it still holds uid here: the
// dispatcher saw a newer login of uid on another gateway. A newer login
// here, whose ONLINE the dispatcher has not seen yet, is left alone.
func (g *Gateway) kickSession(uid, sid uint64) {
	if s := g.reg.releaseSID(uid, sid); s != nil {
		g.kick(s, wire.CodeDuplicateLogin)
	}
}

func (g *Gateway) send(s *session, from uint64, f *wire.Frame) {
	a := pendingAck{to: s, id: f.MsgID}
	if to := g.reg.lookup(f.ToUID); to != nil && g.deliverTo(int(s.loop), to, f.MsgID, from, f.SentTS, f.Payload, &a) {
		return // answered once written
	}
	status := wire.AckOffline
	if g.link != nil {
		// Not here, or its session here is on its way out: the dispatcher knows.
		if g.link.route(int(s.loop), s, f.MsgID, from, f.ToUID, f.SentTS, f.Payload) {
			return // the ACK comes with the dispatcher's answer
		}
		status = wire.AckRouteUnavailable
	}
	g.ack(s, f.MsgID, status)
}

// ack queues ACK status for msgID on s, from s's own loop (its data
// callback writes it).
func (g *Gateway) ack(s *session, msgID uint64, status uint8) {
	s.queue(g, func(b []byte) []byte { return wire.AppendAck(b, msgID, status) })
}

// answer sends the ACK or RESULT owed for each of acks with status. on is
// the evio loop the caller runs on (-1: none).
func (g *Gateway) answer(on int, acks []pendingAck, status uint8) {
	for _, a := range acks {
		if a.to == nil {
			if g.link != nil {
				g.link.result(on, a.gen, a.origin, a.epoch, a.id, status)
			}
			continue
		}
		g.ack(a.to, a.id, status)
		g.push(on, a.to)
	}
}

// push gets s's queue written. Off the loops (on is -1) it wakes s's loop
// at once; on loop on it notes s, and the callback running there flushes
// (s on this loop: only its loop writes its socket) or wakes it once, with
// everything else queued for it meanwhile, when it ends (see drain).
func (g *Gateway) push(on int, s *session) {
	if on < 0 {
		s.conn.Wake()
		return
	}
	p := &g.loops[on]
	if _, ok := p.noted[s]; !ok {
		p.noted[s] = struct{}{}
		p.order = append(p.order, s)
	}
}

// loopState is what a callback on one evio loop noted to push (only that
// loop's goroutine touches it).
type loopState struct {
	noted map[*session]struct{}
	order []*session
	link  *linkOut // has frames this loop added, for batched to push
}

// batched runs on loop on once it has acted on all that one wait returned:
// the link frames its callbacks added (ROUTEs, RESULTs) go out in one
// write, not one each, so a loaded loop's messages cost fewer syscalls
// and wake-ups, and an idle one's are no later.
func (g *Gateway) batched(on int) {
	p := &g.loops[on]
	if p.link != nil {
		p.link.push()
		p.link = nil
	}
}

// drain pushes what the callback on loop on noted: it flushes the sessions
// of this loop (which may note more: the ACKs of the DELIVERs written) and
// wakes the others. It reports whether self, flushed among them, should
// close.
func (g *Gateway) drain(on int, self *session) (closeSelf bool) {
	p := &g.loops[on]
	for i := 0; i < len(p.order); i++ {
		s := p.order[i]
		delete(p.noted, s)
		if int(s.loop) != on {
			s.conn.Wake()
			continue
		}
		closing := g.flush(on, s)
		if s == self {
			closeSelf = closing
		} else if closing {
			s.conn.Wake() // its own callback returns the close to evio
		}
	}
	if len(p.order) > 4096 { // a broadcast's worth: do not keep its memory
		p.noted, p.order = map[*session]struct{}{}, nil
	} else {
		clear(p.order)
		p.order = p.order[:0]
	}
	return closeSelf
}

// deliverTo queues a DELIVER on s with the answer a owes once it is
// written (nil: none), and reports whether it was queued (if not, a is not
// answered). on is the loop the caller runs on (-1: none).
func (g *Gateway) deliverTo(on int, s *session, msgID, from, sentTS uint64, payload []byte, a *pendingAck) bool {
	if !s.deliver(g, func(b []byte) []byte { return wire.AppendDeliver(b, msgID, from, sentTS, payload) }, a) {
		return false
	}
	g.push(on, s)
	return true
}

// deliverRoute delivers a route from the dispatcher to the local session of
// its recipient; the RESULT is sent once the DELIVER is written, or at once
// (status 1) when the recipient is not here.
func (g *Gateway) deliverRoute(gen uint32, f *linkFrame) {
	a := pendingAck{id: f.req, origin: f.origin, epoch: f.epoch, gen: gen}
	if s := g.reg.lookup(f.to); s != nil && g.deliverTo(-1, s, f.msgID, f.from, f.sentTS, f.payload, &a) {
		return
	}
	g.link.result(-1, gen, f.origin, f.epoch, f.req, wire.AckOffline)
}

func (g *Gateway) broadcast(s *session, from uint64, f *wire.Frame) {
	if !g.opts.Broadcast {
		g.ack(s, f.MsgID, wire.AckNotAllowed)
		return
	}
	if len(f.Payload) > wire.MaxVarLen(wire.TypeDeliver, g.opts.MaxFrame) {
		g.ack(s, f.MsgID, wire.AckTooLarge) // its DELIVER would not fit a frame
		return
	}
	g.deliverAll(int(s.loop), f.MsgID, from, f.SentTS, f.Payload)
	if g.link != nil {
		g.link.broadcast(f.MsgID, from, f.SentTS, f.Payload)
	}
	g.ack(s, f.MsgID, wire.AckDelivered)
}

// deliverAll queues one DELIVER on every local logged-in session.
func (g *Gateway) deliverAll(on int, msgID, from, sentTS uint64, payload []byte) {
	g.reg.each(func(t *session) {
		if _, in := t.loggedIn(); in {
			g.deliverTo(on, t, msgID, from, sentTS, payload, nil)
		}
	})
}
