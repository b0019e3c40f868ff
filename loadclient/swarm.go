package loadclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
)

// Swarm is one process's share of a load run: it ramps its connections up,
// holds them, then closes them. Build it with New, run it with Run, watch it
// with Snapshot. All methods are safe for concurrent use.
type Swarm struct {
	c   *core
	eng engine
	sup *lifecycle.Supervisor // drives the phases: ramp, hold, close, done

	engDone chan struct{} // closed once the engine has returned
	engErr  error         // the engine's error, once engDone is closed

	ran       atomic.Bool
	heldAtEnd atomic.Int64
	rampEnd   atomic.Int64 // ns since start; 0 while ramping
	holdEnd   atomic.Int64

	holdSnap atomic.Pointer[stats.Snapshot] // the swarm as the hold ended

	procMu sync.Mutex
	proc   stats.Process
	procAt time.Time

	mu       sync.Mutex
	lastT    time.Time
	lastEst  int64
	lastRate float64
}

// engine runs the connections of a core until ctl.close; it returns once
// every connection is closed.
type engine interface {
	run() error
}

// New plans opts for this host (ReadEnv) and prepares the swarm. A plan
// that cannot work returns a *PlanError that says how to fix it.
func New(opts Options) (*Swarm, error) {
	return NewWithEnv(opts, ReadEnv())
}

// NewWithEnv is New on a described host.
func NewWithEnv(opts Options, env Env) (*Swarm, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, &PlanError{err.Error()}
	}
	plan, err := NewPlan(o, env)
	if err != nil {
		return nil, err
	}
	if o.Shard.Count == 0 && plan.Procs > 1 {
		return nil, &PlanError{fmt.Sprintf("this plan needs %d processes: run it with the runner (imtool swarm) or give each process its Shard", plan.Procs)}
	}
	wss, err := setupWS(o, plan)
	if err != nil {
		return nil, &PlanError{err.Error()}
	}
	tlss, err := setupTLS(o.TLS, plan)
	if err != nil {
		return nil, &PlanError{err.Error()}
	}
	mqs, err := setupMQTT(o)
	if err != nil {
		return nil, &PlanError{err.Error()}
	}
	c := newCore(o, plan)
	c.ws, c.tls, c.mq = wss, tlss, mqs
	if o.Scenario != nil {
		s, err := compileScenario(o)
		if err != nil {
			return nil, &PlanError{err.Error()}
		}
		c.useScenario(s)
	}
	eng, err := newEngine(c)
	if err != nil {
		return nil, err
	}
	s := &Swarm{c: c, eng: eng, engDone: make(chan struct{})}
	s.sup = lifecycle.New(swarmPart{s}, lifecycle.Options{Hold: o.Hold, Drain: o.Drain, Watch: 5 * time.Millisecond,
		OnHold: func() { s.rampEnd.Store(s.c.now()) }, OnHoldEnd: s.endHold})
	return s, nil
}

// Plan is the plan the swarm runs.
func (s *Swarm) Plan() *Plan { return s.c.plan }

// Shard is the slice of the plan this swarm runs.
func (s *Swarm) Shard() Shard { return s.c.shard }

// Pause stops (true) or resumes (false) the ramp; connections already held
// stay held.
func (s *Swarm) Pause(paused bool) { s.c.ctl.paused.Store(paused) }

// Stop ends the run gracefully: the ramp stops, outstanding ACKs get up to
// Options.Drain, then every connection is closed. It may be called any
// number of times, before or during Run.
func (s *Swarm) Stop() { s.sup.Stop() }

// Command obeys a control word: Stop is Stop, Quiet is Quiet, Pause and
// Resume pause and resume the ramp.
func (s *Swarm) Command(c lifecycle.Command) { s.sup.Command(c) }

// Done is closed when Run has returned.
func (s *Swarm) Done() <-chan struct{} { return s.sup.Done() }

// HeldAtEnd is the number of connections held when the hold ended (before
// the close), or the current number while running.
func (s *Swarm) HeldAtEnd() int64 {
	if ph := s.Phase(); ph == stats.PhaseDone || ph == stats.PhaseClose {
		return s.heldAtEnd.Load()
	}
	return s.held()
}

// RampSeconds is how long the ramp took, or has taken so far.
func (s *Swarm) RampSeconds() float64 {
	if e := s.rampEnd.Load(); e > 0 {
		return time.Duration(e).Seconds()
	}
	return time.Since(s.c.start).Seconds()
}

// Phase is the current phase (stats.PhasePlan … stats.PhaseDone).
func (s *Swarm) Phase() string { return s.sup.Phase() }

func (s *Swarm) held() int64 {
	var n int64
	for _, k := range s.c.loops {
		n += k.held.Load()
	}
	return n
}

// Run ramps, holds and closes, and returns when every connection is closed:
// after Hold (when set), on Stop, or when ctx ends. It runs once.
func (s *Swarm) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("loadclient: Swarm.Run called twice")
	}
	go func() {
		s.engErr = s.eng.run()
		close(s.engDone)
	}()
	s.sup.Run(ctx)
	<-s.engDone
	return s.engErr
}

// endHold takes the swarm as the hold ends, before anything is quieted:
// the connections held then are the run's result.
func (s *Swarm) endHold(ended bool) {
	if !ended && s.c.o.Churn.Rate > 0 {
		s.settleChurn()
	}
	s.heldAtEnd.Store(s.held())
	hs := s.Snapshot()
	s.holdSnap.Store(&hs)
	if s.rampEnd.Load() == 0 {
		s.rampEnd.Store(s.c.now())
	}
	s.holdEnd.Store(s.c.now())
}

// swarmPart is the swarm's engine as its supervisor drives it: Stop
// closes every connection at once (the supervisor has drained them).
type swarmPart struct{ s *Swarm }

func (p swarmPart) Command(c lifecycle.Command) {
	switch c {
	case lifecycle.Quiet:
		p.s.c.ctl.quiet.Store(true)
	case lifecycle.Pause, lifecycle.Resume:
		p.s.Pause(c == lifecycle.Pause)
	case lifecycle.Stop:
		p.s.c.ctl.close.Store(true)
	}
}
func (p swarmPart) Ramped() bool { return p.s.rampDone() }
func (p swarmPart) Drained() bool {
	return p.s.c.sending() == 0 && p.s.pending() == 0 && p.s.undelivered() == 0
}
func (p swarmPart) Done() <-chan struct{} { return p.s.engDone }

// settleChurn ends the churn before the held count is taken: quiet stops
// it, and the connections it closed last get up to Options.Drain to be
// connected and logged in again, so the count is not short by the redials
// that happened to be in flight.
func (s *Swarm) settleChurn() {
	s.c.ctl.quiet.Store(true)
	deadline := time.Now().Add(s.c.o.Drain)
	time.Sleep(10 * time.Millisecond) // a churned connection is redialed within a tick
	for s.dialing() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// dialing is the connections connecting or logging in now.
func (s *Swarm) dialing() int64 {
	var n int64
	for _, k := range s.c.loops {
		n += k.connecting.Load() + k.loggingIn.Load()
	}
	return n
}

// Quiet stops sending messages (heartbeats go on), so that a sharded run
// can let every shard's messages arrive before any shard closes.
func (s *Swarm) Quiet() { s.c.ctl.quiet.Store(true) }

// undelivered is the number of messages ACKed as delivered (or expected by
// a scenario) whose delivery has not arrived yet, when every recipient is in this process (otherwise
// other processes receive them and 0 is returned).
func (s *Swarm) undelivered() int64 {
	if s.c.o.Proto == ProtoRaw || (s.c.o.Shard.Count > 0 && s.c.o.Shard.Count < s.c.plan.Conns) {
		return 0
	}
	var acked, got int64
	for _, k := range s.c.loops {
		acked += k.acks[0].Load() + k.expected.Load()
		got += k.delivered.Load()
		for q := range 3 { // MQTT: the deliveries the subscriptions call for
			acked += k.mq.expected[q].Load()
		}
	}
	return acked - got
}

func (s *Swarm) rampDone() bool {
	for _, k := range s.c.loops {
		if !k.rampDone.Load() {
			return false
		}
	}
	return true
}

func (s *Swarm) pending() int64 {
	if s.c.o.Proto == ProtoRaw {
		return 0 // raw payloads get no ACK
	}
	var n int64
	for _, k := range s.c.loops {
		n += k.sent.Load() - k.acked.Load() - k.lost.Load() - k.unawaited.Load() - k.mq.sent[0].Load() // QoS 0 is not answered
	}
	return n
}

// Snapshot is the swarm now, as the one snapshot type. ConnectRate is
// established connections per second since the previous Snapshot call at
// least half a second ago.
func (s *Swarm) Snapshot() stats.Snapshot {
	c := s.c
	snap := stats.Snapshot{Kind: stats.KindSwarm, Time: time.Now(), UptimeS: time.Since(c.start).Seconds()}
	if c.o.Shard.Count > 0 {
		snap.ID = fmt.Sprintf("shard-%d", c.shard.Index)
	}
	snap.Process = s.process(snap.Time)
	snap.Phase = s.Phase()
	snap.Target = int64(c.shard.Count)
	snap.Paused = c.ctl.paused.Load()
	c.snapshotInto(&snap)
	snap.Connections = snap.Held
	s.mu.Lock()
	if dt := snap.Time.Sub(s.lastT); s.lastT.IsZero() || dt >= 500*time.Millisecond {
		if !s.lastT.IsZero() {
			s.lastRate = float64(snap.Established-s.lastEst) / dt.Seconds()
		} else {
			s.lastRate = float64(snap.Established) / max(snap.UptimeS, 1e-3)
		}
		s.lastT, s.lastEst = snap.Time, snap.Established
	}
	snap.ConnectRate = s.lastRate
	s.mu.Unlock()
	return snap
}

// Final is the snapshot to report once Run has returned: every counter as
// it ended (ACKs that came during the drain included), but the connections
// held, their spread over ports and source IPs and the process's memory as
// they were when the hold ended, before the close. Before the end it is
// Snapshot.
func (s *Swarm) Final() stats.Snapshot {
	snap := s.Snapshot()
	if hs := s.holdSnap.Load(); hs != nil {
		snap.Held, snap.Connections = hs.Held, hs.Connections
		snap.Ports, snap.SourceIPs = hs.Ports, hs.SourceIPs
		snap.Process = hs.Process
	}
	return snap
}

// process reads this process's resources at most every 900ms: /stats, the
// sampler and the shard link may all ask within one second, and each read
// is several /proc files (stats.ReadProcess).
func (s *Swarm) process(now time.Time) stats.Process {
	s.procMu.Lock()
	defer s.procMu.Unlock()
	if now.Sub(s.procAt) >= 900*time.Millisecond {
		s.proc, s.procAt = stats.ReadProcess(), now
	}
	return s.proc
}

// ErrorsBy lists errors by class and destination port, and by class and
// source IP, for this process.
func (s *Swarm) ErrorsBy() []ErrorCount { return s.c.errorsBy() }
