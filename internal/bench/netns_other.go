//go:build !linux

package bench

import "errors"

// InNetns is false: only Linux runs a bench in a namespace of its own.
func InNetns() bool { return false }

// RunInNetns needs Linux network namespaces.
func RunInNetns([]string, int) (int, error) {
	return 0, errors.New("--netns needs Linux (network namespaces): run without it")
}

// SetUpNetns is never called off Linux.
func SetUpNetns() (string, error) { return "", errors.New("--netns needs Linux") }
