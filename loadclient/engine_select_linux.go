//go:build linux

package loadclient

// newEngine picks the engine: epoll unless the portable one is asked for.
func newEngine(c *core) (engine, error) {
	if EngineFor(c.o) == EnginePortable {
		return newPortableEngine(c)
	}
	return newEpollEngine(c)
}

// EngineFor is the engine a swarm of o runs on.
func EngineFor(o Options) string {
	if o.Engine == EnginePortable {
		return EnginePortable
	}
	return EngineEpoll
}
