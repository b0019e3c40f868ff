package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
)

// source is a running swarm: in this process, a group of shards, or a set
// of agents. Its Command(lifecycle.Stop) ends the run gracefully.
type source interface {
	lifecycle.Run
	Baseline() stats.Snapshot // before anything was dialed
	Final() stats.Snapshot    // once done: see loadclient.Swarm.Final
	Err() error               // why it failed, once done
}

// local is a swarm in this process; it supervises itself.
type local struct {
	*loadclient.Swarm
	base stats.Snapshot
	ch   chan struct{}
	e    error
}

func startLocal(o loadclient.Options, env loadclient.Env) (*local, error) {
	sw, err := loadclient.NewWithEnv(o, env)
	if err != nil {
		return nil, err
	}
	l := &local{Swarm: sw, base: sw.Snapshot(), ch: make(chan struct{})}
	go func() {
		l.e = sw.Run(context.Background())
		close(l.ch)
	}()
	return l, nil
}

func (l *local) Baseline() stats.Snapshot { return l.base }
func (l *local) Done() <-chan struct{}    { return l.ch }
func (l *local) Err() error {
	select {
	case <-l.ch:
		return l.e
	default:
		return nil
	}
}

// group is a swarm sharded over processes of this binary. Each shard holds
// until told; the group's supervisor times the hold for all of them and
// ends them together.
type group struct {
	*lifecycle.Supervised
	g    *shard.Group
	n    int
	ch   chan struct{}
	mu   sync.Mutex
	errs []error
}

// EnvAuthSecret is where --auth-secret may come from instead of argv.
const EnvAuthSecret = "IMTOOL_AUTH_SECRET"

// groupWatch is how often a group's supervisor merges its shards'
// snapshots to see the ramp end and the drain: they publish once a second.
const groupWatch = 100 * time.Millisecond

func startGroup(o Options, plan *loadclient.Plan) (*group, error) {
	so := o.Swarm
	g, err := shard.Start(shard.Spec{
		Name: "swarm", N: plan.Procs, Exe: o.Exe, Stderr: o.Stderr,
		Args:    func(int) []string { return []string{ShardCommand} },
		Options: func(i int) any { return ShardOptions(so, plan, i) },
	})
	if err != nil {
		return nil, err
	}
	gr := &group{g: g, n: plan.Procs, ch: make(chan struct{})}
	gr.Supervised = lifecycle.Supervise(lifecycle.Remote{Send: g.Send, Merged: gr.merged, Empty: loadclient.Drained, Ended: gr.ch},
		lifecycle.Options{Hold: so.Hold, Drain: max(so.Drain, loadclient.DefaultDrain) + 2*time.Second, Watch: groupWatch})
	go func() {
		for i := 0; i < gr.n; i++ {
			e := <-g.Exits()
			if e.Err != nil {
				gr.mu.Lock()
				gr.errs = append(gr.errs, fmt.Errorf("swarm shard %d (pid %d): %w", e.Index, e.PID, e.Err))
				gr.mu.Unlock()
			}
		}
		_ = g.Wait()
		close(gr.ch)
	}()
	// Each shard publishes a snapshot before it dials: together, the baseline.
	var base stats.Snapshot
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		parts := g.Snapshots()
		ready := true
		for _, p := range parts {
			if p.Kind == "" && !p.Down {
				ready = false
			}
		}
		if ready {
			base = stats.Merge(stats.KindSwarm, "", parts)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	gr.Start(base)
	return gr, nil
}

func (g *group) merged() stats.Snapshot {
	parts := g.g.Snapshots()
	s := stats.Merge(stats.KindSwarm, "", parts)
	var rate float64
	for _, p := range parts {
		rate += p.ConnectRate
	}
	s.ConnectRate = rate
	return s
}

func (g *group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// ShardCommand is the command a swarm shard runs: `imtool swarm`, which
// finds its options in its environment (shard.Link.Options).
const ShardCommand = "swarm"

// ShardOptions are the options of shard i of plan: the whole swarm's (rates
// are of the whole swarm; each shard takes its share) with the shard's
// slice, the plan's source IPs (every shard dials exactly the parent's
// plan) and no hold of its own (the group's supervisor times it for all).
func ShardOptions(o loadclient.Options, plan *loadclient.Plan, i int) loadclient.Options {
	o.Shard = plan.Shards[i]
	o.SourceIPs = plan.Sources
	o.Hold = 0
	o.Procs = 1
	return o
}

// RunShard is the whole life of a shard process: run its slice, obey its
// parent (lifecycle.Obey), and publish the baseline first and the final
// snapshot before returning.
func RunShard(link *shard.Link, o loadclient.Options) error {
	sw, err := loadclient.New(o)
	if err != nil {
		return err
	}
	link.Publish(sw.Snapshot()) // the baseline: nothing dialed yet
	done := make(chan error, 1)
	go func() { done <- sw.Run(context.Background()) }()
	lifecycle.Obey(link.Commands, link.Publish, sw)
	err = <-done
	link.Publish(sw.Final())
	return err
}
