package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
)

// source is a running swarm: in this process, or a group of shards.
type source interface {
	baseline() stats.Snapshot // before anything was dialed
	snapshot() stats.Snapshot
	final() stats.Snapshot // once done: see loadclient.Swarm.Final
	pause(bool)
	stop()
	done() <-chan struct{}
	err() error
	errorsBy() []loadclient.ErrorCount
}

// local is a swarm in this process.
type local struct {
	sw   *loadclient.Swarm
	base stats.Snapshot
	ch   chan struct{}
	e    error
}

func startLocal(o loadclient.Options, env loadclient.Env) (*local, error) {
	sw, err := loadclient.NewWithEnv(o, env)
	if err != nil {
		return nil, err
	}
	l := &local{sw: sw, base: sw.Snapshot(), ch: make(chan struct{})}
	go func() {
		l.e = sw.Run(context.Background())
		close(l.ch)
	}()
	return l, nil
}

func (l *local) baseline() stats.Snapshot { return l.base }
func (l *local) snapshot() stats.Snapshot { return l.sw.Snapshot() }
func (l *local) final() stats.Snapshot    { return l.sw.Final() }
func (l *local) pause(p bool)             { l.sw.Pause(p) }
func (l *local) stop()                    { l.sw.Stop() }
func (l *local) done() <-chan struct{}    { return l.ch }
func (l *local) err() error {
	select {
	case <-l.ch:
		return l.e
	default:
		return nil
	}
}
func (l *local) errorsBy() []loadclient.ErrorCount { return l.sw.ErrorsBy() }

// group is a swarm sharded over processes of this binary.
type group struct {
	g        *shard.Group
	drain    time.Duration
	stopOnce sync.Once
	n        int
	base     stats.Snapshot
	ch       chan struct{}
	mu       sync.Mutex
	errs     []error
}

// EnvAuthSecret carries the auth secret to shards (never in argv).
const EnvAuthSecret = "IMTOOL_AUTH_SECRET"

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
	gr := &group{g: g, n: plan.Procs, ch: make(chan struct{}), drain: max(so.Drain, loadclient.DefaultDrain) + 2*time.Second}
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

func (g *group) baseline() stats.Snapshot { return g.base }
func (g *group) snapshot() stats.Snapshot { return g.merged() }
func (g *group) final() stats.Snapshot {
	s := g.merged()
	s.Phase = stats.PhaseDone
	return s
}
func (g *group) pause(p bool) {
	if p {
		g.g.Send("pause")
	} else {
		g.g.Send("resume")
	}
}

func (g *group) stop() {
	g.stopOnce.Do(func() { go quietThenStop(g.g.Send, g.merged, g.drain) })
}

// quietThenStop ends every part of a run together (shards, agents): first
// all stop sending messages, then, once every SEND is ACKed and every
// delivered message has arrived (or the drain time is over), all close.
// Without this, a part that closes early would lose DELIVERs others still
// send it.
func quietThenStop(send func(cmd string), merged func() stats.Snapshot, drain time.Duration) {
	send("quiet")
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // parts publish once a second
		s := merged()
		if s.Sent == s.Acked+s.Acks[loadclient.AckLost] && s.Delivered >= s.Acks["delivered"] {
			break
		}
	}
	send("stop")
}
func (g *group) done() <-chan struct{} { return g.ch }
func (g *group) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}
func (g *group) errorsBy() []loadclient.ErrorCount { return nil }

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
	args = append(args, mqttArgs(o.MQTT)...)
	return append(args, tlsArgs(o.TLS)...)
}

// mqttArgs are the MQTT options' flags (imtool swarm's mqttFlags).
func mqttArgs(m loadclient.MQTTOptions) []string {
	var args []string
	for _, f := range []struct{ v, flag string }{
		{m.Version, "--mqtt-version"}, {m.ClientID, "--client-id"}, {m.Username, "--username"},
		{m.Password, "--password"}, {m.WillTopic, "--will-topic"}, {m.WillPayload, "--will-payload"},
		{m.Subscribe, "--subscribe"}, {m.Publish, "--publish"},
	} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	for _, f := range []struct {
		v    int
		flag string
	}{{m.WillQoS, "--will-qos"}, {m.SubQoS, "--sub-qos"}, {m.QoS, "--qos"}, {m.Inflight, "--mqtt-inflight"}} {
		if f.v != 0 {
			args = append(args, f.flag, strconv.Itoa(f.v))
		}
	}
	for _, f := range []struct {
		on   bool
		flag string
	}{{m.Persistent, "--clean-start=false"}, {m.WillRetain, "--will-retain"}, {m.Retain, "--retain"}} {
		if f.on {
			args = append(args, f.flag)
		}
	}
	return args
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

// RunShard is the whole life of a shard process: run its slice, publish a
// snapshot a second to the parent, obey "stop", "pause" and "resume", stop
// when the parent goes away, and publish the final snapshot before
// returning.
func RunShard(link *shard.Link, o loadclient.Options) error {
	sw, err := loadclient.New(o)
	if err != nil {
		return err
	}
	link.Publish(sw.Snapshot()) // the baseline: nothing dialed yet
	done := make(chan error, 1)
	go func() { done <- sw.Run(context.Background()) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	cmds := link.Commands
	for {
		select {
		case cmd, ok := <-cmds:
			switch {
			case !ok:
				cmds = nil // the parent is gone: stop
				sw.Stop()
			case cmd == "stop":
				sw.Stop()
			case cmd == "quiet":
				sw.Quiet()
			case cmd == "pause":
				sw.Pause(true)
			case cmd == "resume":
				sw.Pause(false)
			}
		case <-tick.C:
			link.Publish(sw.Snapshot())
		case err := <-done:
			link.Publish(sw.Final())
			return err
		}
	}
}
