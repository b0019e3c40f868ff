package loadclient

import (
	"math"
	"time"
)

// A Pacer says how many events (connects, messages) an open-loop schedule
// has due after some time, and when each was planned. The sender never waits
// for a reply before sending the next one: when it falls behind, the due
// events pile up and the lag is measured against Planned, so slowness shows
// as latency instead of vanishing (no coordinated omission).
type Pacer interface {
	// Due is the number of events planned at or before elapsed.
	Due(elapsed time.Duration) int64
	// Planned is when event n (0-based) was planned.
	Planned(n int64) time.Duration
}

// ConstantPacer plans Rate events per second, the first at 0.
type ConstantPacer struct{ Rate float64 }

// Due implements Pacer.
func (p ConstantPacer) Due(elapsed time.Duration) int64 {
	if p.Rate <= 0 || elapsed < 0 {
		return 0
	}
	if math.IsInf(p.Rate, 1) {
		return math.MaxInt64
	}
	return int64(elapsed.Seconds()*p.Rate+1e-9) + 1
}

// Planned implements Pacer.
func (p ConstantPacer) Planned(n int64) time.Duration {
	if p.Rate <= 0 {
		return time.Duration(math.MaxInt64)
	}
	if math.IsInf(p.Rate, 1) {
		return 0
	}
	return time.Duration(math.Ceil(float64(n) / p.Rate * float64(time.Second)))
}

// LinearPacer ramps from Start to End events per second over Over, then
// stays at End: a gentler warm-up than a step.
type LinearPacer struct {
	Start, End float64
	Over       time.Duration
}

// Due implements Pacer.
func (p LinearPacer) Due(elapsed time.Duration) int64 {
	if elapsed < 0 {
		return 0
	}
	t, T := elapsed.Seconds(), p.Over.Seconds()
	var n float64
	if t <= T && T > 0 {
		n = p.Start*t + (p.End-p.Start)*t*t/(2*T)
	} else {
		n = (p.Start+p.End)*T/2 + p.End*(t-T)
	}
	if n < 0 {
		return 0
	}
	return int64(n) + 1
}

// Planned implements Pacer: the inverse of Due.
func (p LinearPacer) Planned(n int64) time.Duration {
	x := float64(n)
	T := p.Over.Seconds()
	ramp := (p.Start + p.End) * T / 2
	if x <= ramp && T > 0 {
		a := (p.End - p.Start) / (2 * T)
		if a == 0 {
			return seconds(x / p.Start)
		}
		// a t² + Start t − x = 0
		return seconds((-p.Start + math.Sqrt(p.Start*p.Start+4*a*x)) / (2 * a))
	}
	if p.End <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return seconds(T + (x-ramp)/p.End)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// pauseClock is elapsed time that stops while paused, so a paused ramp
// resumes where it was instead of bursting to catch up.
type pauseClock struct {
	paused   bool
	pausedAt time.Duration
	total    time.Duration
}

// set pauses or resumes at now (time since start).
func (c *pauseClock) set(paused bool, now time.Duration) {
	if paused == c.paused {
		return
	}
	c.paused = paused
	if paused {
		c.pausedAt = now
	} else {
		c.total += now - c.pausedAt
	}
}

// elapsed is now less the time spent paused.
func (c *pauseClock) elapsed(now time.Duration) time.Duration {
	if c.paused {
		return c.pausedAt - c.total
	}
	return now - c.total
}
