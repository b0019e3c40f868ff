package refservertest

import (
	"testing"
	"time"

	"github.com/imtool/imtool/refserver"
)

// Gateway is an in-process gateway on free loopback ports.
type Gateway struct {
	*refserver.Gateway
	Addrs []string // host:port of each listening port
}

// NewGateway starts a gateway with opts on nports free loopback ports
// (opts.Ports and opts.Listen are set here) and shuts it down at cleanup.
func NewGateway(t testing.TB, opts refserver.Options, nports int) *Gateway {
	t.Helper()
	opts.Listen = "127.0.0.1"
	opts.Ports = make([]uint16, nports) // port 0: the kernel picks
	g, err := refserver.NewGateway(opts)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Serve() }()
	select {
	case <-g.Ready():
	case err := <-errc:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start in 10s")
	}
	t.Cleanup(func() { g.Shutdown(time.Second) })
	out := &Gateway{Gateway: g}
	for _, a := range g.Addrs() {
		out.Addrs = append(out.Addrs, a.String())
	}
	return out
}
