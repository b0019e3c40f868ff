//go:build !linux

package stats

// readOSProcess has no portable source of RSS and fds; those stay 0.
func readOSProcess(*Process) {}
