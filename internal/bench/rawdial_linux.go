package bench

import (
	"context"
	"net/netip"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
)

// rawDialConns is how many connections the raw dialer opens: within the
// bench process's own fd limit, and a fraction of a second of the ramp.
const rawDialConns = 10000

// rawDial measures the floor the ramp is compared with (loadclient.RawDial)
// into the bench's gateway, then waits until the gateway has closed its
// side of every one of them, so the run's counts start from nothing.
func rawDial(ctx context.Context, svc *services, ports []uint16, conns int) (*stats.RawDial, error) {
	n := min(conns, rawDialConns)
	dests := make([]netip.AddrPort, len(ports))
	for i, p := range ports {
		dests[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), p)
	}
	r, err := loadclient.RawDial(dests, netip.Addr{}, n, loadclient.DefaultMaxInflight)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if srv, _ := svc.observe(ctx); srv != nil && srv.Connections == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &stats.RawDial{Conns: n, Failed: r.Failed, Rate: r.Rate}, nil
}
