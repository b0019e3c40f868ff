// imtool's addition to evio 1.0.8.

package internal

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// metronome wakes a paced loop at every multiple of its period on the
// monotonic clock, from a periodic timerfd the loop waits for in the Go
// netpoller, so its P is idle while it waits and the runtime's sysmon can
// sleep. Once armed, nothing here enters an announced syscall (that would
// wake a sleeping sysmon). imtool's swarm has the same timer
// (loadclient/metronome_linux.go); this module cannot import it.
type metronome struct {
	f   *os.File
	rc  syscall.RawConn
	buf [8]byte
}

const (
	tfdNonblock     = syscall.O_NONBLOCK
	tfdCloexec      = syscall.O_CLOEXEC
	tfdTimerAbstime = 1
	clockMonotonic  = 1
)

type itimerspec struct{ interval, value syscall.Timespec }

func newMetronome(period time.Duration) (*metronome, error) {
	r, _, e := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if e != 0 {
		return nil, e
	}
	var now syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&now)), 0); e != 0 {
		syscall.Close(int(r))
		return nil, e
	}
	next := (now.Nano()/int64(period) + 1) * int64(period)
	spec := itimerspec{interval: syscall.NsecToTimespec(int64(period)), value: syscall.NsecToTimespec(next)}
	if _, _, e := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, r, tfdTimerAbstime, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		syscall.Close(int(r))
		return nil, e
	}
	m := &metronome{f: os.NewFile(r, "evio-metronome")}
	var err error
	if m.rc, err = m.f.SyscallConn(); err != nil {
		m.f.Close()
		return nil, err
	}
	return m, nil
}

// wait returns at the next multiple of the period, or at once when one has
// passed since the last wait.
func (m *metronome) wait() error {
	return m.rc.Read(func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&m.buf[0])), uintptr(len(m.buf)))
		return e != syscall.EAGAIN
	})
}

func (m *metronome) close() { m.f.Close() }
