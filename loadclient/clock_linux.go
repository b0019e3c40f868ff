//go:build linux

package loadclient

import "golang.org/x/sys/unix"

// monoNow is CLOCK_MONOTONIC in nanoseconds: the clock Go's monotonic time
// and the metronome's timerfd both run on.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
