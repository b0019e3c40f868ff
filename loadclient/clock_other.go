//go:build !linux

package loadclient

// monoNow is 0 where no loop waits on the monotonic clock's multiples: the
// portable engine's requests need no alignment.
func monoNow() int64 { return 0 }
