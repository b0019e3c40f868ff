package loadclient

import (
	"strings"
	"testing"
	"time"
)

// TestBackoffBounds draws many delays for each redial number and jitter
// mode and checks each lies where the AWS blog's formulas put it, and that
// the jittered ones use their whole range (a herd is spread, not shifted).
func TestBackoffBounds(t *testing.T) {
	r := rng(0x9E3779B97F4A7C15)
	for _, jit := range []string{JitterFull, JitterEqual, JitterNone} {
		b := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: jit}
		for n := 0; n < 70; n++ {
			base := b.Min
			for i := 0; i < n && base < b.Max; i++ {
				base *= 2
			}
			base = min(base, b.Max)
			if got := b.Base(n); got != base {
				t.Fatalf("Base(%d) = %v, want %v", n, got, base)
			}
			lo, hi := base, base
			switch jit {
			case JitterFull:
				lo = 0
			case JitterEqual:
				lo = base / 2
			}
			seenLo, seenHi := base, time.Duration(0)
			var sum time.Duration
			const draws = 4000
			for i := 0; i < draws; i++ {
				d := b.Delay(n, r.next())
				if d < lo || d > hi {
					t.Fatalf("%s jitter, redial %d: %v outside [%v, %v]", jit, n, d, lo, hi)
				}
				seenLo, seenHi = min(seenLo, d), max(seenHi, d)
				sum += d
			}
			if jit == JitterNone {
				continue
			}
			span := hi - lo
			if seenLo > lo+span/20 || seenHi < hi-span/20 {
				t.Errorf("%s jitter, redial %d: draws span only [%v, %v] of [%v, %v]", jit, n, seenLo, seenHi, lo, hi)
			}
			mid := lo + span/2
			if mean := sum / draws; mean < mid-span/10 || mean > mid+span/10 {
				t.Errorf("%s jitter, redial %d: mean %v, want about %v (uniform)", jit, n, mean, mid)
			}
		}
	}
}

// TestBackoffImmediate: Min 0 redials at once whatever the jitter, and a
// huge redial count neither overflows nor passes the cap.
func TestBackoffImmediate(t *testing.T) {
	for _, jit := range []string{JitterFull, JitterEqual, JitterNone} {
		b := Backoff{Jitter: jit}
		for n := 0; n < 300; n += 7 {
			if d := b.Delay(n, 12345); d != 0 {
				t.Fatalf("%s, Min 0, redial %d: %v, want 0", jit, n, d)
			}
		}
		capped := Backoff{Min: time.Hour, Max: 2 * time.Hour, Jitter: jit}
		if d := capped.Delay(255, ^uint64(0)); d < 0 || d > 2*time.Hour {
			t.Fatalf("%s, redial 255: %v outside [0, 2h]", jit, d)
		}
	}
}

func TestBackoffCheck(t *testing.T) {
	for _, tc := range []struct {
		b    Backoff
		want string // "" valid
	}{
		{DefaultBackoff(), ""},
		{Backoff{Jitter: JitterNone}, ""},
		{Backoff{Min: -time.Second, Max: time.Second, Jitter: JitterFull}, "--backoff-min"},
		{Backoff{Min: 2 * time.Second, Max: time.Second, Jitter: JitterFull}, "below --backoff-min"},
		{Backoff{Min: time.Second, Max: time.Second, Jitter: "decorrelated"}, "full, equal or none"},
		{Backoff{Min: time.Second, Max: time.Second}, "full, equal or none"},
	} {
		err := tc.b.Check()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Check() = %v, want %q", tc.b, err, tc.want)
		}
	}
	if _, err := (Options{Backoff: Backoff{Min: 1, Max: 0, Jitter: JitterFull}}).withDefaults(); err == nil {
		t.Error("withDefaults took a backoff whose cap is below its start")
	}
	if o, err := (Options{}).withDefaults(); err != nil || o.Backoff != DefaultBackoff() {
		t.Errorf("withDefaults on zero options: backoff %+v, %v; want the default", o.Backoff, err)
	}
}
