//go:build unix

package host

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// getrlimit asks the kernel for this process's RLIMIT_NOFILE.
func getrlimit() (Rlimit, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return Rlimit{}, fmt.Errorf("cannot read RLIMIT_NOFILE: %w", err)
	}
	return fromKernel(uint64(rl.Cur), uint64(rl.Max)), nil
}
