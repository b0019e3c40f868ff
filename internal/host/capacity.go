package host

import "math"

// FDReserve is what every imtool process keeps for itself besides its
// connections and listeners: stdio, epoll fds, timers, the stats listener,
// pipes to its parent, a dispatcher link, connections being refused.
const FDReserve = 500

// ConnsPerProcess is how many connections one process plans to hold under
// fd limit with listeners listening sockets, leaving the share h−1 of them
// (h ≥ 1) as headroom: ⌊(limit − FDReserve − listeners) / h⌋. It is 0 when
// the limit leaves no room, or is unknown (≤ 0).
func ConnsPerProcess(limit int64, listeners int, h float64) int64 {
	room := limit - FDReserve - int64(listeners)
	if limit <= 0 || room <= 0 {
		return 0
	}
	// The epsilon keeps ⌊1100/1.1⌋ at 1000 despite binary floating point,
	// so NofileFor's limit holds the connections it was computed for.
	return int64(math.Floor(float64(room)/h + 1e-9))
}

// Procs is how many processes hold conns connections under fd limit, each
// planned as ConnsPerProcess says: ⌈conns / ConnsPerProcess⌉. It is 1 when
// the limit is unknown or leaves no room (the caller's own check then says
// what to raise).
func Procs(conns int, limit int64, listeners int, h float64) int {
	per := ConnsPerProcess(limit, listeners, h)
	if per <= 0 || conns <= 0 {
		return 1
	}
	return int((int64(conns) + per - 1) / per)
}

// NofileFor is the fd limit one process needs to hold conns connections
// with headroom h and listeners listening sockets: ⌈h·conns⌉ + listeners +
// FDReserve, the inverse of ConnsPerProcess.
func NofileFor(conns int, listeners int, h float64) int64 {
	return int64(math.Ceil(h*float64(conns))) + int64(listeners) + FDReserve
}
