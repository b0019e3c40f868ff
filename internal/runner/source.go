package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/portspec"
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
	g    *shard.Group
	sup  *lifecycle.Supervisor
	n    int
	base stats.Snapshot
	ch   chan struct{}
	mu   sync.Mutex
	errs []error
}

// EnvAuthSecret carries the auth secret to shards (never in argv).
const EnvAuthSecret = "IMTOOL_AUTH_SECRET"

// groupWatch is how often a group's supervisor merges its shards'
// snapshots to see the ramp end and the drain: they publish once a second.
const groupWatch = 100 * time.Millisecond

func startGroup(o Options, plan *loadclient.Plan) (*group, error) {
	so := o.Swarm
	so.SourceIPs = plan.Sources // children dial exactly the parent's plan
	argsOf := o.ChildArgs
	if argsOf == nil {
		argsOf = SwarmArgs
	}
	env := append([]string(nil), o.ChildEnv...)
	if len(so.AuthSecret) > 0 {
		env = append(env, EnvAuthSecret+"="+string(so.AuthSecret))
	}
	g, err := shard.Start(shard.Spec{
		Name: "swarm", N: plan.Procs, Exe: o.Exe, Stderr: o.Stderr,
		Args: func(i int) []string { return argsOf(so, plan.Shards[i]) },
		Env:  func(int) []string { return env },
	})
	if err != nil {
		return nil, err
	}
	gr := &group{g: g, n: plan.Procs, ch: make(chan struct{})}
	gr.sup = lifecycle.New(lifecycle.Remote{Send: g.Send, Merged: gr.merged, Empty: loadclient.Drained, Ended: gr.ch},
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
			gr.base = stats.Merge(stats.KindSwarm, "", parts)
			gr.base.Phase = stats.PhasePlan
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	go gr.sup.Run(context.Background())
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

func (g *group) Baseline() stats.Snapshot    { return g.base }
func (g *group) Snapshot() stats.Snapshot    { return g.merged() }
func (g *group) Command(c lifecycle.Command) { g.sup.Command(c) }
func (g *group) Final() stats.Snapshot {
	s := g.merged()
	s.Phase = stats.PhaseDone
	return s
}
func (g *group) Done() <-chan struct{} { return g.sup.Done() }
func (g *group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// ShardFlag is the hidden flag of `imtool swarm` that makes a process one
// shard of a bigger plan: INDEX:FIRST:COUNT.
const ShardFlag = "shard"

// FormatShard writes a Shard for ShardFlag; ParseShard reads it.
func FormatShard(s loadclient.Shard) string {
	return fmt.Sprintf("%d:%d:%d", s.Index, s.First, s.Count)
}

// ParseShard reads INDEX:FIRST:COUNT.
func ParseShard(v string) (loadclient.Shard, error) {
	var s loadclient.Shard
	if _, err := fmt.Sscanf(v, "%d:%d:%d", &s.Index, &s.First, &s.Count); err != nil || s.Count < 1 || s.First < 0 {
		return s, fmt.Errorf("--%s %q: want INDEX:FIRST:COUNT", ShardFlag, v)
	}
	return s, nil
}

// SwarmArgs is the `imtool swarm` command line of one shard: the whole
// swarm's options (rates are of the whole swarm; each shard takes its
// share) and the shard's slice.
func SwarmArgs(o loadclient.Options, s loadclient.Shard) []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	args := []string{"swarm", "--tui=false", "--stats", "", "--procs", "1",
		"--" + ShardFlag, FormatShard(s),
		"--conns", strconv.Itoa(o.Conns), "--rate", f(o.Rate), "--msg-rate", f(o.MsgRate),
		"--uid-base", strconv.FormatUint(o.UIDBase, 10), "--payload", strconv.Itoa(o.Payload),
		"--heartbeat", o.Heartbeat.String(), "--hold", "0", // the parent times the hold for all shards
		"--max-inflight", strconv.Itoa(o.MaxInflight),
	}
	for _, t := range o.Targets {
		args = append(args, "--target", t)
	}
	if len(o.Ports) > 0 {
		args = append(args, "--ports", portspec.String(o.Ports))
	}
	if o.BasePort != 0 {
		args = append(args, "--base-port", strconv.Itoa(o.BasePort))
	}
	if len(o.SourceIPs) > 0 {
		args = append(args, "--source-ips", loadclient.FormatSourceIPs(o.SourceIPs))
	}
	if o.Proto != "" {
		args = append(args, "--proto", o.Proto)
	}
	if o.Close != "" {
		args = append(args, "--close", o.Close)
	}
	if o.Reconnect {
		args = append(args, "--reconnect")
	}
	b := o.Backoff.OrDefault()
	args = append(args, "--backoff-min", b.Min.String(), "--backoff-max", b.Max.String(), "--backoff-jitter", b.Jitter)
	if o.Churn.Rate > 0 {
		// The rate travels per second: a percentage would be of the shard's
		// --conns, which is the whole swarm's anyway, but /s is exact.
		args = append(args, "--churn", f(o.Churn.Rate)+"/s", "--churn-burst", o.Churn.Burst.String())
	}
	if o.ConnectTimeout > 0 {
		args = append(args, "--connect-timeout", o.ConnectTimeout.String())
	}
	if o.LoginTimeout > 0 {
		args = append(args, "--login-timeout", o.LoginTimeout.String())
	}
	if o.Engine != "" {
		args = append(args, "--engine", o.Engine)
	}
	if o.Loops > 0 {
		args = append(args, "--loops", strconv.Itoa(o.Loops))
	}
	args = append(args, wsArgs(o)...)
	return append(args, tlsArgs(o.TLS)...)
}

// wsArgs are the WebSocket options' flags; the payload travels as text
// (the shard need not read the parent's --payload-file).
func wsArgs(o loadclient.Options) []string {
	var args []string
	if o.WSPath != "" {
		args = append(args, "--ws-path", o.WSPath)
	}
	for _, h := range o.Headers {
		args = append(args, "--header", h)
	}
	if o.WSSubprotocol != "" {
		args = append(args, "--ws-subprotocol", o.WSSubprotocol)
	}
	if o.WSBinary {
		args = append(args, "--ws-binary")
	}
	if o.PayloadTemplate != "" {
		args = append(args, "--"+PayloadTemplateFlag, o.PayloadTemplate)
	}
	return args
}

// PayloadTemplateFlag carries a WebSocket payload template to shards.
const PayloadTemplateFlag = "payload-template"

// tlsArgs are the TLS options' flags.
func tlsArgs(t loadclient.TLSOptions) []string {
	var args []string
	for _, f := range []struct {
		on   bool
		flag string
	}{{t.On, "--tls"}, {t.Insecure, "--tls-insecure"}, {t.Resume, "--tls-resume"}} {
		if f.on {
			args = append(args, f.flag)
		}
	}
	for _, f := range []struct{ v, flag string }{
		{t.ServerName, "--tls-server-name"}, {t.CAFile, "--tls-ca"}, {t.CertFile, "--tls-cert"},
		{t.KeyFile, "--tls-key"}, {t.MinVersion, "--tls-min-version"},
	} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	return args
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
