//go:build unix

package runner

import "syscall"

func nofile() (soft, hard int64) {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return 0, 0
	}
	return int64(r.Cur), int64(r.Max)
}
