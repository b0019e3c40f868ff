//go:build !unix

package host

import (
	"errors"
	"runtime"
)

// getrlimit: this OS has no RLIMIT_NOFILE.
func getrlimit() (Rlimit, error) {
	return Rlimit{}, errors.New("no RLIMIT_NOFILE on " + runtime.GOOS)
}
