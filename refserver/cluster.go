package refserver

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/stats"
)

// ClusterOptions configure a gateway sharded over processes.
type ClusterOptions struct {
	Procs      int    // gateway processes (see PlanProcs)
	Dispatcher string // the dispatcher to join; empty: the cluster runs one on 127.0.0.1
	// Gateway are the options of every gateway shard; ShardOptions makes
	// each one's. PerProc caps each shard's connections (PlanProcs).
	Gateway Options
	PerProc int
	// Command is the command line of a gateway shard (this binary's, without
	// the program name): it reads its options with shard.Link.Options and
	// runs the gateway with them.
	Command []string
	Stderr  io.Writer
	Logf    func(format string, args ...any)
}

// ShardOptions are the options of gateway shard i, which joins dispatcher
// as gw-i with SO_REUSEPORT listeners on the cluster's ports, holds at most
// PerProc connections, and runs one event loop unless Gateway.Loops says
// more (the shards are the parallelism).
func (o ClusterOptions) ShardOptions(i int, dispatcher string) Options {
	g := o.Gateway
	g.GatewayID = fmt.Sprintf("gw-%d", i)
	g.Dispatcher = dispatcher
	g.ReusePort = true
	g.MaxConns = o.PerProc
	g.Loops = max(g.Loops, 1)
	return g
}

// Cluster is a running sharded gateway: N gateway processes on the same
// ports, joined by a dispatcher.
type Cluster struct {
	opts  ClusterOptions
	group *shard.Group
	disp  *Dispatcher // ours, when none was given
	start time.Time
}

// shardHeadroom is what gateway shards are planned with (host.Procs):
// each fills at most 90% of what its fd limit allows, so none runs near it
// (a million connections over 54 shards at the cap put each at 93%), and
// SO_REUSEPORT spreads connections unevenly (binomially): 5% more.
const shardHeadroom = 1.05 / 0.9

// PlanProcs returns how many gateway processes hold maxConns connections on
// ports ports under this process's fd limit, and the cap of each: what the
// limit allows one process (host.ConnsPerProcess). A cluster of more than
// one is planned with a spare shard's room (N+1): when a shard dies, its
// clients redial into the others, which SO_REUSEPORT picks by hash whatever
// room each has, so each survivor must have room for its share of them,
// or one at its cap turns them away as server full (docs/FAULTS.md).
func PlanProcs(maxConns, ports int) (procs, perProc int, err error) {
	limit, err := fdLimit()
	if err != nil {
		return 0, 0, err
	}
	perProc = int(host.ConnsPerProcess(int64(limit), ports, 1))
	if perProc < 1 {
		return 0, 0, fmt.Errorf("RLIMIT_NOFILE %d leaves no room for connections on %d ports", limit, ports)
	}
	if maxConns <= 0 {
		return 1, perProc, nil
	}
	if procs = host.Procs(maxConns, int64(limit), ports, shardHeadroom); procs > 1 {
		procs++
	}
	return procs, perProc, nil
}

// StartCluster starts the dispatcher (unless one is given) and the gateway
// shards.
func StartCluster(o ClusterOptions) (*Cluster, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	c := &Cluster{opts: o, start: time.Now()}
	disp := o.Dispatcher
	if disp == "" {
		d, err := NewDispatcher(DispatcherOptions{Listen: "127.0.0.1:0", Logf: o.Logf})
		if err != nil {
			return nil, err
		}
		go d.Serve()
		c.disp, disp = d, d.Addr()
	}
	g, err := shard.Start(shard.Spec{
		Name:    "gateway",
		N:       o.Procs,
		Args:    func(int) []string { return o.Command },
		Options: func(i int) any { return o.ShardOptions(i, disp) },
		// A P beside the loops runs the dispatcher link at once: without
		// it a routed message waits for the runtime to preempt a loop
		// (docs/MEASUREMENT.md).
		Procs:  o.ShardOptions(0, disp).Loops + 1,
		Stderr: o.Stderr,
	})
	if err != nil {
		if c.disp != nil {
			c.disp.Close()
		}
		return nil, err
	}
	c.group = g
	return c, nil
}

// Exits reports gateway shards that end; the cluster restarts one only when
// told to (Restart).
func (c *Cluster) Exits() <-chan shard.Exit { return c.group.Exits() }

// Restart starts gateway shard i again, after it ended, with the same
// command line: same ports (SO_REUSEPORT) and gateway id, so it rejoins the
// dispatcher as the shard it replaces.
func (c *Cluster) Restart(i int) error { return c.group.Restart(i) }

// PIDs are the gateway processes.
func (c *Cluster) PIDs() []int { return c.group.PIDs() }

// Snapshot sums the shards' snapshots and keeps each in Shards.
func (c *Cluster) Snapshot() stats.Snapshot {
	s := stats.Merge(stats.KindGateway, "cluster", c.group.Snapshots())
	s.UptimeS = time.Since(c.start).Seconds()
	return s
}

// DispatcherSnapshot is the cluster's own dispatcher's state, if it runs one.
func (c *Cluster) DispatcherSnapshot() (stats.Snapshot, bool) {
	if c.disp == nil {
		return stats.Snapshot{}, false
	}
	return c.disp.Snapshot(), true
}

// Stop asks every shard to shut down gracefully (each sends ERROR 9 to its
// sessions), waits for them and stops the dispatcher. It returns an error
// naming shards that failed.
func (c *Cluster) Stop() error {
	c.group.Send(lifecycle.Stop)
	c.group.Signal(os.Interrupt)
	err := c.group.Wait()
	if c.disp != nil {
		c.disp.Close()
	}
	return err
}
