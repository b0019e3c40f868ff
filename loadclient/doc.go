// Package loadclient is imtool's swarm: it opens, holds and closes many
// long-lived TCP connections against a gateway (the imtool protocol,
// WebSocket, the imtool protocol in WebSocket messages) or any TCP server
// (raw), over TLS when asked, and measures them without lying about what
// it holds.
//
// A client protocol is written once, as a proto (protocol.go,
// protocol_ws.go, protocol_mqtt.go, protocol_scenario.go: a gateway's own
// protocol from a scenario file): bytes in → events and latencies, bytes to write,
// heartbeats and messages on request. Both engines drive it, with TLS
// or without (tls.go; the epoll engine's in tls_epoll_linux.go).
//
// A run is planned first (NewPlan): destinations (target IPs × ports),
// source IPs and the local port range give the capacity S·D·P·R and a
// round-robin spread that keeps every (source, destination) pair under half
// the port range; impossible plans are refused and slow ones warned about,
// each with the fix. The plan is split into Shards when one process's
// RLIMIT_NOFILE cannot hold it (the runner, internal/runner, starts them).
//
// The Linux engine runs one epoll loop per core:
// non-blocking connects (IP_BIND_ADDRESS_NO_PORT when a source is bound)
// confirmed by SO_ERROR, paced by a Pacer but never more than MaxInflight
// connecting or logging in at once (a slow server slows the ramp); each connection is 32 bytes of pointer-free state in a flat array
// with one entry in a timing wheel, and the hot path neither allocates nor
// starts goroutines. Reads are always drained. The portable engine
// (net.Dialer and goroutines) serves other systems.
//
// Latencies (connect, login, heartbeat RTT, SEND→ACK, SEND→DELIVER, lag)
// are measured from planned send times into mergeable histograms; errors
// are counted by class (internal/stats), destination port and source IP.
// Everything is reported as one stats.Snapshot.
package loadclient
