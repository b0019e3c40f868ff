//go:build !unix

package host

import (
	"errors"
	"runtime"
)

// ProcessNofile: this OS has no RLIMIT_NOFILE.
func ProcessNofile() (Rlimit, error) {
	return Rlimit{}, errors.New("no RLIMIT_NOFILE on " + runtime.GOOS)
}
