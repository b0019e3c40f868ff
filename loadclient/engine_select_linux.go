//go:build linux

package loadclient

// newEngine picks the engine: epoll unless the portable one is asked for.
func newEngine(c *core) (engine, error) {
	if c.o.Engine == EnginePortable {
		return newPortableEngine(c)
	}
	return newEpollEngine(c)
}
