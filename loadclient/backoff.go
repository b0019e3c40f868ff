package loadclient

import (
	"fmt"
	"time"
)

// Jitter modes of a Backoff, named as in the AWS Architecture Blog's
// "Exponential Backoff And Jitter".
const (
	JitterFull  = "full"  // uniform in [0, base]
	JitterEqual = "equal" // base/2 + uniform in [0, base/2]
	JitterNone  = "none"  // exactly base: every client of a herd redials together
)

// Defaults of the reconnect policy: the first redial 50-100 ms after a
// drop, the exponent capped at 30 s.
const (
	DefaultBackoffMin    = 100 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultBackoffJitter = JitterEqual
)

// Backoff is the wait before each redial of a connection that dropped or
// failed (Options.Reconnect): base = min(Max, Min·2^n) for the n-th redial
// since the connection was last held, then jittered. Min 0 redials at once,
// every time: the herd a reconnect storm is made of.
type Backoff struct {
	Min, Max time.Duration
	Jitter   string // JitterFull, JitterEqual or JitterNone
}

// DefaultBackoff is the policy of a swarm that names none.
func DefaultBackoff() Backoff {
	return Backoff{Min: DefaultBackoffMin, Max: DefaultBackoffMax, Jitter: DefaultBackoffJitter}
}

// OrDefault is b, or DefaultBackoff when b is the zero value.
func (b Backoff) OrDefault() Backoff {
	if b == (Backoff{}) {
		return DefaultBackoff()
	}
	return b
}

// Check says what is wrong with the policy, in the flags' words.
func (b Backoff) Check() error {
	switch {
	case b.Min < 0:
		return fmt.Errorf("--backoff-min %v: give a duration ≥ 0 (0 redials at once)", b.Min)
	case b.Max < b.Min:
		return fmt.Errorf("--backoff-max %v is below --backoff-min %v: give a cap at least the first wait", b.Max, b.Min)
	}
	switch b.Jitter {
	case JitterFull, JitterEqual, JitterNone:
		return nil
	}
	return fmt.Errorf("--backoff-jitter %q: give full, equal or none", b.Jitter)
}

// Base is the un-jittered wait before redial n (0 is the first).
func (b Backoff) Base(n int) time.Duration {
	if n >= 62 || b.Min > b.Max>>uint(n) {
		return b.Max
	}
	return b.Min << uint(n)
}

// Delay is the wait before redial n; rnd is a uniform random number.
func (b Backoff) Delay(n int, rnd uint64) time.Duration {
	d := b.Base(n)
	switch b.Jitter {
	case JitterFull:
		return time.Duration(rnd % uint64(d+1))
	case JitterEqual:
		return d/2 + time.Duration(rnd%uint64(d-d/2+1))
	}
	return d
}

// String is the policy as the flags read it.
func (b Backoff) String() string {
	return fmt.Sprintf("%v-%v %s jitter", b.Min, b.Max, b.Jitter)
}
