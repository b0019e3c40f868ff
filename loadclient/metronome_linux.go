//go:build linux

package loadclient

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// metronome wakes a loop at every multiple of a period on the monotonic
// clock, offset by the process's phase, from a periodic
// timerfd that the loop waits for in the Go netpoller. Parked there, the
// loop leaves its P idle, and a Go process whose P is idle with no timer
// due lets sysmon sleep: a loop that slept inside a raw syscall looked busy
// to the runtime, so sysmon woke every 10 ms in each of ~110 shard
// processes — 10% of a two-core machine at a million connections. Nothing
// here enters an announced syscall once armed (that too wakes a sleeping
// sysmon).
type metronome struct {
	f      *os.File
	rc     syscall.RawConn
	phase  time.Duration // the grid's offset from multiples of the period
	period time.Duration // armed with
	want   time.Duration // asked for by wait
	armErr error
	tick   func(fd uintptr) bool // m.read, made once: a closure per wait allocated
	buf    [8]byte
}

func newMetronome(phase time.Duration) (*metronome, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "metronome") // non-blocking: registered with the netpoller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("metronome: %w", err)
	}
	m := &metronome{f: f, rc: rc, phase: phase}
	m.tick = m.read
	return m, nil
}

// wait returns at the next multiple of period (plus the phase), or at once
// when one has passed since the last wait (the loop is behind).
func (m *metronome) wait(period time.Duration) error {
	m.want, m.armErr = period, nil
	if err := m.rc.Read(m.tick); err != nil {
		return err
	}
	return m.armErr
}

// read (re)arms the timer if the period changed and takes its expirations;
// false parks the caller in the netpoller until the timer fires.
func (m *metronome) read(fd uintptr) bool {
	if m.want != m.period {
		if m.armErr = arm(fd, m.want, m.phase); m.armErr != nil {
			return true
		}
		m.period = m.want
	}
	_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&m.buf[0])), uintptr(len(m.buf)))
	return e != unix.EAGAIN
}

// arm sets the timer to fire at the next multiple of period plus phase,
// then every period.
func arm(fd uintptr, period, phase time.Duration) error {
	var now unix.Timespec
	if _, _, e := unix.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&now)), 0); e != 0 {
		return fmt.Errorf("clock_gettime: %w", e)
	}
	p, ph := int64(period), int64(phase)%int64(period)
	next := ((now.Nano()-ph)/p+1)*p + ph
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(period)), Value: unix.NsecToTimespec(next)}
	if _, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, unix.TFD_TIMER_ABSTIME, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		return fmt.Errorf("timerfd_settime: %w", e)
	}
	return nil
}

func (m *metronome) close() { m.f.Close() }
