//go:build linux

package loadclient

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The metronome returns on period boundaries of the monotonic clock offset
// by its phase, at once when one has passed, re-arms when the period
// changes, and waiting allocates nothing. Its schedule is read from the
// kernel (timerfd_gettime), and each return must have taken an expiration
// of it: a loaded machine makes returns late, which the checks allow,
// never early or off the grid.
func TestMetronome(t *testing.T) {
	const phase = 3 * time.Millisecond
	m, err := newMetronome(phase)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	// lastBoundary is the latest instant of the grid at or before ns.
	lastBoundary := func(ns int64, period time.Duration) int64 {
		p := int64(period)
		return (ns-int64(phase))/p*p + int64(phase)
	}
	for _, period := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond} {
		if err := m.wait(period); err != nil { // arms, then the first boundary
			t.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < 10; i++ {
			if err := m.wait(period); err != nil {
				t.Fatal(err)
			}
			if n := binary.NativeEndian.Uint64(m.buf[:]); n < 1 {
				t.Fatalf("period %v: returned having taken %d expirations of the timer", period, n)
			}
			// The kernel's next expiry is on the grid.
			var spec unix.ItimerSpec
			before := monoNow()
			var gerr error
			if err := m.rc.Control(func(fd uintptr) { gerr = unix.TimerfdGettime(int(fd), &spec) }); err != nil || gerr != nil {
				t.Fatal(err, gerr)
			}
			after := monoNow()
			lo, hi := before+spec.Value.Nano(), after+spec.Value.Nano()
			if b := lastBoundary(hi+1000, period); b < lo-1000 {
				t.Errorf("period %v: next expiry in [%d, %d] ns, no instant of the grid there (nearest %d)", period, lo, hi, b)
			}
			if got := time.Duration(spec.Interval.Nano()); got != period {
				t.Errorf("armed every %v, want %v", got, period)
			}
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
