//go:build linux

package loadclient

import "time"

// churner is one event loop's share of the churn.
type churner struct {
	rate  float64 // closes per second of this loop
	start int64   // ns since start the loop's hold began; -1 before
	n     int64   // closes done
}

// churn closes the held connections the churn has due, from random slots,
// and files each for an immediate redial (the window permitting). It runs
// once the loop's ramp is over and stops with the messages (the close).
func (l *eloop) churn() {
	ch := &l.churner
	if ch.rate <= 0 || l.c.ctl.quiet.Load() || len(l.conns) == 0 {
		return
	}
	if ch.start < 0 {
		if !l.k.rampDone.Load() {
			return
		}
		ch.start = l.now
	}
	due := l.c.o.Churn.due(time.Duration(l.now-ch.start), ch.rate)
	for done := 0; ch.n < due && done < msgBatch; done++ {
		ch.n++
		for try := 0; try < 16; try++ {
			s := int32(l.rnd.next() % uint64(len(l.conns)))
			if c := &l.conns[s]; c.state == stHeld {
				l.k.churned.Add(1)
				l.closeOwn(s)
				c.state, c.tries, c.next = stBackoff, 0, l.now
				l.schedule(s, l.now)
				break
			}
		}
	}
}
