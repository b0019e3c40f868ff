package refserver

import "sync"

// registry finds sessions by fd (for sweeps, broadcast and shutdown) and by
// uid (for routing). The fd table is a flat slice: 8 bytes a slot.
type registry struct {
	mu   sync.RWMutex
	byFD []*session

	uids [64]uidShard
}

type uidShard struct {
	mu sync.Mutex
	m  map[uint64]holder
}

// holder is the session that holds a uid, with its login: the session id
// this gateway gave it and the login's time (login), which orders it
// against logins of the same uid on other gateways.
type holder struct {
	s     *session
	sid   uint64
	login int64
}

// login is one uid's holder as the dispatcher link reports it.
type login struct {
	uid, sid uint64
	at       int64
}

func (r *registry) add(s *session) {
	r.mu.Lock()
	if int(s.fd) >= len(r.byFD) {
		grown := make([]*session, max(int(s.fd)+1, 2*len(r.byFD), 1024))
		copy(grown, r.byFD)
		r.byFD = grown
	}
	r.byFD[s.fd] = s
	r.mu.Unlock()
}

func (r *registry) remove(s *session) {
	r.mu.Lock()
	if int(s.fd) < len(r.byFD) && r.byFD[s.fd] == s {
		r.byFD[s.fd] = nil
	}
	r.mu.Unlock()
}

// each calls fn for every open connection. fn must not call add or remove.
func (r *registry) each(fn func(*session)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.byFD {
		if s != nil {
			fn(s)
		}
	}
}

func (r *registry) shard(uid uint64) *uidShard {
	return &r.uids[(uid*0x9E3779B97F4A7C15)>>58]
}

// claim makes s, logged in as session sid, the holder of uid and returns
// the session it replaces, if any, and the login time it gives s: now, or
// just after the replaced login's, so that logins of a uid are ordered as
// they claimed it.
func (r *registry) claim(uid uint64, s *session, sid uint64, now int64) (old *session, at int64) {
	sh := r.shard(uid)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]holder)
	}
	prev := sh.m[uid]
	at = max(now, prev.login+1)
	sh.m[uid] = holder{s: s, sid: sid, login: at}
	sh.mu.Unlock()
	return prev.s, at
}

// release forgets uid if s still holds it, and returns s's session id.
func (r *registry) release(uid uint64, s *session) (sid uint64, ok bool) {
	sh := r.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h := sh.m[uid]
	if h.s != s || s == nil {
		return 0, false
	}
	delete(sh.m, uid)
	return h.sid, true
}

// releaseSID forgets uid if session sid still holds it, and returns that
// session.
func (r *registry) releaseSID(uid, sid uint64) *session {
	sh := r.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	h, ok := sh.m[uid]
	if !ok || h.sid != sid {
		return nil
	}
	delete(sh.m, uid)
	return h.s
}

func (r *registry) lookup(uid uint64) *session {
	sh := r.shard(uid)
	sh.mu.Lock()
	s := sh.m[uid].s
	sh.mu.Unlock()
	return s
}

// logins returns every uid's holder (for a dispatcher resync).
func (r *registry) logins() []login {
	var out []login
	for i := range r.uids {
		sh := &r.uids[i]
		sh.mu.Lock()
		for uid, h := range sh.m {
			out = append(out, login{uid, h.sid, h.login})
		}
		sh.mu.Unlock()
	}
	return out
}
