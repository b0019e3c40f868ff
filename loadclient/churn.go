package loadclient

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Churn closes held connections during the hold and redials them at once,
// as mobile clients come and go while the rest stay: the swarm then shows
// a steady connect and login rate, with its latency, under full load. The
// connections close as Options.Close says (FIN or RST); a redial that fails
// follows the reconnect policy like any other. When the hold ends the churn
// stops first, and its last redials get up to Options.Drain to land before
// the held count is taken.
type Churn struct {
	// Rate is connections closed and redialed per second, whole swarm.
	Rate float64
	// Spec is the rate as the person gave it ("2%/min", "50/s").
	Spec string
	// Burst, when set, closes each period's share at once at the end of
	// the period instead of spreading it evenly.
	Burst time.Duration
}

// ParseChurn reads --churn: N/s, N/min or N/h connections, or P%/s,
// P%/min or P%/h of conns. "" is no churn.
func ParseChurn(spec string, conns int) (Churn, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Churn{}, nil
	}
	bad := func(why string) (Churn, error) {
		return Churn{}, fmt.Errorf("--churn %q: %s: give a rate such as 2%%/min (of --conns) or 50/s", spec, why)
	}
	num, unit, ok := strings.Cut(spec, "/")
	if !ok {
		return bad("no /s, /min or /h")
	}
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "s", "sec":
		per = time.Second
	case "min", "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return bad("the unit after / must be s, min or h")
	}
	num = strings.TrimSpace(num)
	percent := strings.HasSuffix(num, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(num, "%"), 64)
	if err != nil || v < 0 || v != v || v > 1e9 {
		return bad("the rate is not a number ≥ 0")
	}
	if percent {
		if v > 100*float64(per/time.Second) {
			return bad("more than every connection each second")
		}
		v = v / 100 * float64(conns)
	}
	return Churn{Rate: v / per.Seconds(), Spec: spec}, nil
}

// Check says what is wrong with the churn, in the flags' words.
func (ch Churn) Check() error {
	switch {
	case ch.Rate < 0 || ch.Rate != ch.Rate:
		return fmt.Errorf("--churn %q: give a rate ≥ 0", ch.Spec)
	case ch.Burst < 0:
		return fmt.Errorf("--churn-burst %v: give 0 (evenly) or a period", ch.Burst)
	}
	return nil
}

// due is how many of rate's closes are due after elapsed: evenly spread,
// or all of each Burst period's at its end.
func (ch Churn) due(elapsed time.Duration, rate float64) int64 {
	if elapsed <= 0 || rate <= 0 {
		return 0
	}
	if ch.Burst > 0 {
		elapsed = elapsed / ch.Burst * ch.Burst
	}
	return int64(elapsed.Seconds() * rate)
}

// churn is the portable engine's churn: it closes random held connections
// at the churn's rate once the ramp is over; their goroutines redial them.
func (e *portableEngine) churn() {
	defer e.wg.Done()
	c := e.c
	for !e.k.rampDone.Load() {
		if e.ctx.Err() != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	rate := c.o.Churn.Rate * e.frac
	start := c.now()
	var n int64
	for e.ctx.Err() == nil && !c.ctl.quiet.Load() {
		due := c.o.Churn.due(time.Duration(c.now()-start), rate)
		if n >= due {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		e.mu.Lock()
		for ; n < due; n++ {
			for slot := range e.conns { // map order starts at a random connection
				if pc := e.conns[slot]; pc.isHeld.Load() && !pc.churned.Load() {
					pc.churned.Store(true)
					e.k.churned.Add(1)
					pc.closeOwn(c.o.Close)
					break
				}
			}
		}
		e.mu.Unlock()
	}
}
