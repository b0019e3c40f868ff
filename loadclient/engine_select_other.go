//go:build !linux

package loadclient

import "errors"

// newEngine picks the engine: only the portable one exists here.
func newEngine(c *core) (engine, error) {
	if c.o.Engine == EngineEpoll {
		return nil, errors.New("--engine epoll needs Linux: use --engine portable (the default here)")
	}
	return newPortableEngine(c)
}

// EngineFor is the engine a swarm of o runs on.
func EngineFor(Options) string { return EnginePortable }
