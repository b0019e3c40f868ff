package lifecycle

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// Part is what a Supervisor drives. Its Command(Stop) closes every
// connection at once: the supervisor quiets and drains it first.
type Part interface {
	Command(Command)
	Ramped() bool          // every connection of the ramp has been tried
	Drained() bool         // nothing in flight: every message answered and delivered
	Done() <-chan struct{} // closed once every connection is closed
}

// Options configure a Supervisor.
type Options struct {
	// Hold is how long the part holds once its ramp is over; 0 holds until
	// Stop.
	Hold time.Duration
	// Drain bounds the wait, after Quiet, for the part to be Drained.
	Drain time.Duration
	// Watch is how often Ramped and Drained are asked (default 10ms). The
	// watch of the ramp stops once the hold begins, so a holding part is
	// not woken for nothing.
	Watch time.Duration
	// OnHold, when set, is called as the hold begins.
	OnHold func()
	// OnHoldEnd, when set, is called as the hold ends, before anything is
	// quieted: the last moment every connection is held. ended says the
	// part ended by itself (its Done closed first).
	OnHoldEnd func(ended bool)
}

// DefaultWatch is Options.Watch's default.
const DefaultWatch = 10 * time.Millisecond

// Supervisor drives one Part through the phases of a run: ramp (until the
// part says Ramped), hold (for Options.Hold, or until Stop or the context
// ends), close (Quiet, then up to Options.Drain for the part to be
// Drained, then Stop), done (the part's Done is closed). A part that ends
// by itself skips the close. All methods are safe for concurrent use.
type Supervisor struct {
	part Part
	o    Options

	phase    atomic.Value // string
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	ran      atomic.Bool
}

// New returns a supervisor of p, in phase plan until Run.
func New(p Part, o Options) *Supervisor {
	if o.Watch <= 0 {
		o.Watch = DefaultWatch
	}
	s := &Supervisor{part: p, o: o, stop: make(chan struct{}), done: make(chan struct{})}
	s.phase.Store(stats.PhasePlan)
	return s
}

// Phase is the phase the supervisor has driven the part to.
func (s *Supervisor) Phase() string { return s.phase.Load().(string) }

// Stop ends the run gracefully: the hold (or the ramp) ends, the part is
// quieted, drained and closed. It may be called any number of times,
// before or during Run.
func (s *Supervisor) Stop() { s.stopOnce.Do(func() { close(s.stop) }) }

// Command obeys a control word: Stop is Supervisor.Stop, the others go to
// the part.
func (s *Supervisor) Command(c Command) {
	if c == Stop {
		s.Stop()
		return
	}
	s.part.Command(c)
}

// Done is closed when Run has returned.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Run drives the part until it is done; it reports whether the part ended
// by itself rather than by the supervisor's close. It runs once; a second
// call returns at once.
func (s *Supervisor) Run(ctx context.Context) (ended bool) {
	if !s.ran.CompareAndSwap(false, true) {
		return false
	}
	defer close(s.done)
	s.phase.Store(stats.PhaseRamp)
	tick := time.NewTicker(s.o.Watch)
	defer tick.Stop()
	tickC := tick.C
	var holdTimer <-chan time.Time
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-s.stop:
			break loop
		case <-s.part.Done():
			ended = true
			break loop
		case <-holdTimer:
			break loop
		case <-tickC:
			if s.part.Ramped() {
				tick.Stop()
				tickC = nil
				if s.o.OnHold != nil {
					s.o.OnHold()
				}
				s.phase.Store(stats.PhaseHold)
				if s.o.Hold > 0 {
					holdTimer = time.After(s.o.Hold)
				}
			}
		}
	}
	if s.o.OnHoldEnd != nil {
		s.o.OnHoldEnd(ended)
	}
	s.phase.Store(stats.PhaseClose)
	if !ended {
		s.part.Command(Quiet)
		deadline := time.Now().Add(s.o.Drain)
		for !s.part.Drained() && time.Now().Before(deadline) {
			time.Sleep(s.o.Watch)
		}
		s.part.Command(Stop)
		<-s.part.Done()
	}
	s.phase.Store(stats.PhaseDone)
	return ended
}

// Remote is a Part whose connections are in other processes or on other
// hosts (a shard group, a set of agents): it is told by sending each of
// them the command, and watched through their merged snapshot. Each of
// them holds until told, so the supervisor times the hold for all.
type Remote struct {
	Send   func(Command)             // to every part still running
	Merged func() stats.Snapshot     // the parts now, merged
	Empty  func(stats.Snapshot) bool // nothing in flight in a merged snapshot
	Ended  <-chan struct{}           // closed once every part has ended
}

func (r Remote) Command(c Command)     { r.Send(c) }
func (r Remote) Ramped() bool          { return PastRamp(r.Merged().Phase) }
func (r Remote) Drained() bool         { return r.Empty(r.Merged()) }
func (r Remote) Done() <-chan struct{} { return r.Ended }

// Supervised is a Remote under its Supervisor: the run a shard group or
// a set of agents is to whoever started it — commands (Stop ends it
// gracefully), the merged snapshot, Done once the close is over.
type Supervised struct {
	*Supervisor
	remote Remote
	base   stats.Snapshot
}

// Supervise returns r under a supervisor with options o; Start runs it.
func Supervise(r Remote, o Options) *Supervised {
	return &Supervised{Supervisor: New(r, o), remote: r}
}

// Start records the baseline (the parts before anything was dialed, in
// phase plan) and runs the supervisor.
func (s *Supervised) Start(baseline stats.Snapshot) {
	s.base = baseline
	s.base.Phase = stats.PhasePlan
	go s.Run(context.Background())
}

// Baseline is the parts before anything was dialed.
func (s *Supervised) Baseline() stats.Snapshot { return s.base }

// Snapshot is the parts now, merged.
func (s *Supervised) Snapshot() stats.Snapshot { return s.remote.Merged() }

// Final is the parts as they ended: each part's final snapshot holds its
// connections as its hold ended.
func (s *Supervised) Final() stats.Snapshot {
	f := s.remote.Merged()
	f.Phase = stats.PhaseDone
	return f
}
