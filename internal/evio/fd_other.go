//go:build !darwin && !netbsd && !freebsd && !openbsd && !dragonfly && !linux

package evio

// FD returns -1: on this OS every connection is served by the standard
// library and has no socket of its own to hand out.
func FD(Conn) int { return -1 }
