//go:build unix

package loadclient

import (
	"runtime"
	"syscall"
)

// nofileLimit is the RLIMIT_NOFILE this process may reach: Go raises the
// soft limit to the hard one at start-up, so the hard one counts.
func nofileLimit() int64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	lim := r.Cur
	if r.Max > lim {
		lim = r.Max
	}
	if lim > 1<<40 { // RLIM_INFINITY
		return 0
	}
	return int64(lim)
}

func cpus() int { return runtime.NumCPU() }
