//go:build unix

package bench

import "golang.org/x/sys/unix"

// alive counts the processes among pids that still exist.
func alive(pids []int) int {
	n := 0
	for _, p := range pids {
		if unix.Kill(p, 0) == nil {
			n++
		}
	}
	return n
}
