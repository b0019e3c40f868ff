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
	m  map[uint64]*session
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

// claim makes s the session of uid and returns the one it replaces, if any.
func (r *registry) claim(uid uint64, s *session) (old *session) {
	sh := r.shard(uid)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]*session)
	}
	old = sh.m[uid]
	sh.m[uid] = s
	sh.mu.Unlock()
	return old
}

// release forgets uid if s still holds it, and says whether it did.
func (r *registry) release(uid uint64, s *session) bool {
	sh := r.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[uid] != s {
		return false
	}
	delete(sh.m, uid)
	return true
}

func (r *registry) lookup(uid uint64) *session {
	sh := r.shard(uid)
	sh.mu.Lock()
	s := sh.m[uid]
	sh.mu.Unlock()
	return s
}

// uidList returns every logged-in uid (for a dispatcher resync).
func (r *registry) uidList() []uint64 {
	var out []uint64
	for i := range r.uids {
		sh := &r.uids[i]
		sh.mu.Lock()
		for uid := range sh.m {
			out = append(out, uid)
		}
		sh.mu.Unlock()
	}
	return out
}
