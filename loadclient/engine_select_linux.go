//go:build linux

package loadclient

// newEngine picks the engine: epoll unless the portable one is asked for,
// or TLS is on (the epoll engine has no TLS yet).
func newEngine(c *core) (engine, error) {
	if EngineFor(c.o) == EnginePortable {
		return newPortableEngine(c)
	}
	return newEpollEngine(c)
}

// EngineFor is the engine a swarm of o runs on.
func EngineFor(o Options) string {
	if o.Engine == EnginePortable || tlsOn(o) {
		return EnginePortable
	}
	return EngineEpoll
}
