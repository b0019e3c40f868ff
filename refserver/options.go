package refserver

import (
	"fmt"
	"os"
	"time"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/wire"
)

// Defaults of the gateway's options (the CLI's flag defaults).
const (
	DefaultLoginTimeout = 10 * time.Second
	DefaultIdleTimeout  = 90 * time.Second
	DefaultMaxQueue     = 256 << 10 // bytes queued for one connection before it counts as a slow client
	// slowAfter is how long a client's socket may take nothing, or a
	// DELIVER wait to be written to it, before the client is cut off as
	// slow. It is below routeTimeout, so a routed SEND is answered by the
	// recipient's gateway before its origin gives up on it.
	slowAfter = time.Second
)

// Options configure a Gateway.
type Options struct {
	Listen       string        // address to listen on, e.g. 0.0.0.0
	Ports        []uint16      // ports to listen on (one evio Serve over all)
	WSPorts      []uint16      // ports where the same protocol travels in WebSocket binary messages
	ReusePort    bool          // SO_REUSEPORT, so sibling processes share the ports
	GatewayID    string        // this gateway's name at the dispatcher (default gw-PID)
	Dispatcher   string        // HOST:PORT of the dispatcher; empty for a lone gateway
	AuthSecret   []byte        // when set, LOGIN tokens must be hex(HMAC-SHA256(secret, uid))
	Broadcast    bool          // accept BROADCAST (otherwise ACK 5)
	MaxFrame     int           // largest frame accepted (default wire.DefaultMaxFrame)
	LoginTimeout time.Duration // first frame must be LOGIN within this
	IdleTimeout  time.Duration // no frame for this long closes the session
	MaxConns     int           // cap on open connections (default: host.ConnsPerProcess)
	MaxQueue     int           // bytes queued per connection before it is dropped as slow
	Loops        int           // evio event loops (default: one per P, GOMAXPROCS)
	// Logf receives rare events (dispatcher link changes, shutdown). Never
	// called per connection. Default: discard. It is the one field that
	// does not travel to a shard (the options go as JSON): each logs itself.
	Logf func(format string, args ...any) `json:"-"`
}

// fdLimit is this process's RLIMIT_NOFILE: the soft limit, which Go raised
// to the hard one at start.
func fdLimit() (int, error) {
	lim, err := host.ReadNofile(host.Machine)
	if err != nil {
		return 0, err
	}
	if lim.Soft < 0 || lim.Soft > 1<<30 {
		return 1 << 30, nil
	}
	return int(lim.Soft), nil
}

func (o *Options) setDefaults(fdLimit int) error {
	if len(o.Ports)+len(o.WSPorts) == 0 {
		return fmt.Errorf("no ports to listen on: give --ports or --ws-ports")
	}
	if o.Listen == "" {
		o.Listen = "0.0.0.0"
	}
	if o.GatewayID == "" {
		o.GatewayID = fmt.Sprintf("gw-%d", os.Getpid())
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = wire.DefaultMaxFrame
	}
	// A SEND's payload crosses the dispatcher link in a ROUTE, 28 bytes
	// longer than the SEND frame.
	if limit := maxLinkFrame - 28; o.Dispatcher != "" && o.MaxFrame > limit {
		return fmt.Errorf("--max-frame %d is over %d, the largest SEND a ROUTE to the dispatcher carries: lower it", o.MaxFrame, limit)
	}
	if o.LoginTimeout <= 0 {
		o.LoginTimeout = DefaultLoginTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	ceiling := int(host.ConnsPerProcess(int64(fdLimit), len(o.Ports)+len(o.WSPorts), 1))
	if ceiling < 1 {
		return fmt.Errorf("RLIMIT_NOFILE is %d: too low to serve %d ports (raise it with `imtool tune apply --role server`)", fdLimit, len(o.Ports))
	}
	switch {
	case o.MaxConns <= 0:
		o.MaxConns = ceiling
	case o.MaxConns > ceiling:
		return fmt.Errorf("--max-conns %d is above what this process may open (RLIMIT_NOFILE %d less %d reserved): use --procs auto to shard, or raise the limit (imtool tune apply --role server)", o.MaxConns, fdLimit, fdLimit-ceiling)
	}
	return nil
}
