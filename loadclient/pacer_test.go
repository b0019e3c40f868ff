package loadclient

import (
	"math"
	"testing"
	"time"
)

func TestConstantPacer(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		rate    float64
		elapsed time.Duration
		due     int64
	}{
		{"first event at 0", 1000, 0, 1},
		{"just before the second", 1000, ms - 1, 1},
		{"second at 1ms", 1000, ms, 2},
		{"one second", 1000, time.Second, 1001},
		{"30k/s after 10ms", 30000, 10 * ms, 301},
		{"fractional rate", 0.5, 3 * time.Second, 2},
		{"zero rate: never", 0, time.Hour, 0},
		{"negative elapsed", 1000, -ms, 0},
		{"infinite rate: everything", math.Inf(1), 0, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ConstantPacer{Rate: tt.rate}
			if got := p.Due(tt.elapsed); got != tt.due {
				t.Fatalf("Due(%v) = %d, want %d", tt.elapsed, got, tt.due)
			}
		})
	}
	p := ConstantPacer{Rate: 4000}
	for n := int64(0); n < 10000; n += 37 {
		at := p.Planned(n)
		if p.Due(at) < n+1 || (at > 0 && p.Due(at-time.Microsecond) > n) {
			t.Fatalf("event %d planned at %v but Due there is %d", n, at, p.Due(at))
		}
	}
}

func TestLinearPacer(t *testing.T) {
	p := LinearPacer{Start: 100, End: 1100, Over: 10 * time.Second}
	tests := []struct {
		elapsed time.Duration
		due     int64
	}{
		{0, 1},
		{time.Second, 150 + 1},              // 100·1 + 1000·1²/20
		{10 * time.Second, 6000 + 1},        // (100+1100)·10/2
		{11 * time.Second, 6000 + 1100 + 1}, // then End per second
	}
	for _, tt := range tests {
		if got := p.Due(tt.elapsed); got != tt.due {
			t.Errorf("Due(%v) = %d, want %d", tt.elapsed, got, tt.due)
		}
	}
	for _, n := range []int64{1, 150, 3000, 6000, 7100} {
		at := p.Planned(n)
		if d := p.Due(at + time.Microsecond); d < n+1 || d > n+2 {
			t.Errorf("event %d planned at %v: Due there %d", n, at, d)
		}
	}
}

func TestPauseClock(t *testing.T) {
	var c pauseClock
	s := time.Second
	steps := []struct {
		at      time.Duration
		pause   *bool
		elapsed time.Duration
	}{
		{at: 1 * s, elapsed: 1 * s},
		{at: 2 * s, pause: ptr(true), elapsed: 2 * s},
		{at: 5 * s, elapsed: 2 * s},                    // stopped while paused
		{at: 6 * s, pause: ptr(false), elapsed: 2 * s}, // resumes where it was
		{at: 7 * s, pause: ptr(false), elapsed: 3 * s}, // resuming twice is one resume
		{at: 8 * s, pause: ptr(true), elapsed: 4 * s},
		{at: 9 * s, pause: ptr(true), elapsed: 4 * s},
		{at: 10 * s, pause: ptr(false), elapsed: 4 * s},
		{at: 12 * s, elapsed: 6 * s},
	}
	for i, st := range steps {
		if st.pause != nil {
			c.set(*st.pause, st.at)
		}
		if got := c.elapsed(st.at); got != st.elapsed {
			t.Fatalf("step %d at %v: elapsed %v, want %v", i, st.at, got, st.elapsed)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestWheel(t *testing.T) {
	ticks := make([]uint32, 8)
	w := newWheel(16, 0)
	var fired []int32
	fire := func(s int32) { fired = append(fired, s); ticks[s] = 0 }
	tickOf := func(s int32) uint32 { return ticks[s] }
	file := func(s int32, at uint32) { ticks[s] = w.file(s, at) }

	file(1, 5)
	file(2, 5)
	file(3, 40) // two turns and a half later: same bucket as 8
	file(4, 8)
	file(5, 0) // the past: the next tick
	w.advance(4, tickOf, fire)
	if len(fired) != 1 || fired[0] != 5 {
		t.Fatalf("by tick 4 fired %v, want [5]", fired)
	}
	file(2, 9)   // re-filed: its tick-5 entry is stale
	ticks[1] = 0 // cancelled
	fired = nil
	w.advance(8, tickOf, fire)
	if len(fired) != 1 || fired[0] != 4 {
		t.Fatalf("ticks 5-8 fired %v, want [4]", fired)
	}
	fired = nil
	w.advance(39, tickOf, fire)
	if len(fired) != 1 || fired[0] != 2 {
		t.Fatalf("ticks 9-39 fired %v, want [2]", fired)
	}
	fired = nil
	// Re-filing from inside fire, into the bucket being processed.
	refire := func(s int32) {
		fired = append(fired, s)
		if len(fired) < 3 {
			ticks[s] = w.file(s, w.cur+16)
		} else {
			ticks[s] = 0
		}
	}
	w.advance(40, tickOf, refire)
	w.advance(100, tickOf, refire)
	if len(fired) != 3 || fired[0] != 3 || fired[1] != 3 || fired[2] != 3 {
		t.Fatalf("fired %v, want slot 3 at ticks 40, 56, 72", fired)
	}
}
