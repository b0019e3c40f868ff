package loadclient

// wheel is a hashed timing wheel of connection slots: one timer per
// connection at most, no allocation once its buckets have grown, no timer
// object per connection. A slot is filed under an absolute tick; the owner
// keeps that tick in the connection's state and reports it through tickOf,
// so re-filing a slot makes its older entry stale (it is skipped when its
// bucket comes round) and cancelling is setting the slot's tick to 0.
// Ticks beyond one turn of the wheel wait in their bucket for later rounds.
type wheel struct {
	buckets [][]entry
	mask    uint32
	cur     uint32 // the last tick processed
	spare   []entry
}

// entry is one filing: valid while the slot's tick is still this tick.
type entry struct {
	slot int32
	tick uint32
}

// newWheel makes a wheel with at least n buckets (rounded to a power of two).
func newWheel(n int, start uint32) *wheel {
	size := 1
	for size < n {
		size <<= 1
	}
	return &wheel{buckets: make([][]entry, size), mask: uint32(size - 1), cur: start}
}

// file puts slot under tick (at least the next tick) and returns the tick
// used, which the caller stores for tickOf.
func (w *wheel) file(slot int32, tick uint32) uint32 {
	if int32(tick-w.cur) <= 0 {
		tick = w.cur + 1
	}
	b := &w.buckets[tick&w.mask]
	*b = append(*b, entry{slot, tick})
	return tick
}

// advance processes every tick up to and including to, calling fire for
// each slot whose current tick it is. fire may file slots again, even in
// the bucket being processed. The caller must not file a slot again under
// the tick it is already filed under.
func (w *wheel) advance(to uint32, tickOf func(int32) uint32, fire func(int32)) {
	for int32(to-w.cur) > 0 {
		w.cur++
		t := w.cur
		i := t & w.mask
		b := w.buckets[i]
		if len(b) == 0 {
			continue
		}
		w.buckets[i] = w.spare[:0]
		for _, e := range b {
			switch {
			case e.tick == t:
				if tickOf(e.slot) == t {
					fire(e.slot)
				} // otherwise stale: the slot was re-filed or cancelled
			case int32(e.tick-t) > 0: // a later round of this bucket
				w.buckets[i] = append(w.buckets[i], e)
			}
		}
		w.spare = b[:0]
	}
}
