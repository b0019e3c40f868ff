//go:build darwin || netbsd || freebsd || openbsd || dragonfly || linux

package evio

// FD returns the socket of a connection served by an event loop, or -1 for
// a connection of the standard-library server ("-net" addresses). The
// socket stays the loop's: a caller may write to it (Wake replaces a
// connection's pending output, so other goroutines cannot write through
// evio without losing bytes), but only the loop closes it.
func FD(c Conn) int {
	if c, ok := c.(*conn); ok {
		return c.fd
	}
	return -1
}
