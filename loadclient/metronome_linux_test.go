//go:build linux

package loadclient

import (
	"encoding/binary"
	"testing"
	"time"
)

// The metronome returns on period boundaries of the monotonic clock offset
// by its phase, at once when one has passed, re-arms when the period changes, and waiting
// allocates nothing.
func TestMetronome(t *testing.T) {
	m, err := newMetronome(3 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	for _, period := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond} {
		if err := m.wait(period); err != nil { // arms, then the first boundary
			t.Fatal(err)
		}
		start := time.Now()
		onPhase := 0
		for i := 0; i < 10; i++ {
			if err := m.wait(period); err != nil {
				t.Fatal(err)
			}
			if (monoNow()-int64(3*time.Millisecond))%int64(period) < int64(time.Millisecond) {
				onPhase++ // woke within 1 ms after a multiple of the period plus the phase
			}
		}
		if onPhase < 5 {
			t.Errorf("period %v: %d of 10 wake-ups within 1 ms after the phase's instants", period, onPhase)
		}
		// Ten boundaries; a loaded machine may make it later, never sooner.
		if got := time.Since(start); got < 9*period {
			t.Errorf("period %v: ten waits took %v, want at least %v", period, got, 9*period)
		}
	}
	time.Sleep(25 * time.Millisecond) // two boundaries or more pass unwaited
	if err := m.wait(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n := binary.NativeEndian.Uint64(m.buf[:]); n < 2 {
		t.Errorf("a loop 25 ms behind took %d expirations of a 10 ms timer, want at least 2 at once", n)
	}
	if a := testing.AllocsPerRun(20, func() { m.wait(time.Millisecond) }); a > 0 {
		t.Errorf("wait allocates %.0f times", a)
	}
}
