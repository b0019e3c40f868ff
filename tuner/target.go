package tuner

import (
	"fmt"
	"math"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/portspec"
)

// Role says which end of the connections a host carries.
type Role string

// The roles a host can play.
const (
	RoleServer Role = "server" // accepts the connections
	RoleClient Role = "client" // opens them (the swarm)
	RoleBoth   Role = "both"   // both ends on one host, e.g. over loopback
)

// DefaultHeadroom is the margin applied to connection counts when sizing
// descriptor and table limits.
const DefaultHeadroom = 1.1

// Target is what the host must carry; every requirement derives from it.
type Target struct {
	Role      Role     `json:"role"`
	Conns     int      `json:"conns"`
	Ports     []uint16 `json:"ports"`      // the server's listening ports
	SourceIPs int      `json:"source_ips"` // source addresses per client host
	ServerIPs int      `json:"server_ips"` // destination addresses
	Headroom  float64  `json:"headroom"`
}

// Validate reports a target that cannot be planned for, in flag terms.
func (t Target) Validate() error {
	switch t.Role {
	case RoleServer, RoleClient, RoleBoth:
	default:
		return fmt.Errorf("--role %q: use server, client or both", t.Role)
	}
	if t.Conns < 1 {
		return fmt.Errorf("--conns %d: give the number of connections to hold (≥ 1)", t.Conns)
	}
	if len(t.Ports) == 0 {
		return fmt.Errorf("no server ports: give --ports (e.g. 20 or 9000-9019)")
	}
	if t.SourceIPs < 1 || t.ServerIPs < 1 {
		return fmt.Errorf("--source-ips and --server-ips must be ≥ 1")
	}
	if t.Headroom < 1 {
		return fmt.Errorf("headroom %.2f: must be ≥ 1", t.Headroom)
	}
	return nil
}

func (t Target) serves() bool   { return t.Role != RoleClient }
func (t Target) connects() bool { return t.Role != RoleServer }

// ends is how many sockets per connection live on this host.
func (t Target) ends() int64 {
	if t.Role == RoleBoth {
		return 2
	}
	return 1
}

// withHeadroom is ⌈h·N⌉.
func (t Target) withHeadroom() int64 { return int64(math.Ceil(t.Headroom * float64(t.Conns))) }

// nofile is the descriptor limit one process needs: h·N + P + the reserve
// (host.NofileFor).
func (t Target) nofile() int64 { return host.NofileFor(t.Conns, len(t.Ports), t.Headroom) }

// pairs is the number of (source IP, destination ip:port) pairs, S·D·P.
func (t Target) pairs() int64 { return int64(t.SourceIPs) * int64(t.ServerIPs) * int64(len(t.Ports)) }

// rangeNeeded is the smallest ephemeral range that keeps every pair under
// half of it: 2·⌈N/(S·D·P)⌉.
func (t Target) rangeNeeded() int64 { return 2 * ceilDiv(int64(t.Conns), t.pairs()) }

// connsPerProcess is how many connections fit one process under a hard
// descriptor limit, after the listeners and the reserve (host.ConnsPerProcess).
func (t Target) connsPerProcess(hard int64) int64 {
	return host.ConnsPerProcess(hard, len(t.Ports), t.Headroom)
}

func (t Target) String() string {
	return fmt.Sprintf("role %s, %d connections, ports %s (%d), %d source IP(s), %d server IP(s), headroom %.2f",
		t.Role, t.Conns, portspec.String(t.Ports), len(t.Ports), t.SourceIPs, t.ServerIPs, t.Headroom)
}

func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
