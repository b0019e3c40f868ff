//go:build unix

package host

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ProcessNofile asks the kernel for this process's RLIMIT_NOFILE: a
// system call, cheap enough for every stats snapshot.
func ProcessNofile() (Rlimit, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return Rlimit{}, fmt.Errorf("cannot read RLIMIT_NOFILE: %w", err)
	}
	return fromKernel(uint64(rl.Cur), uint64(rl.Max)), nil
}
