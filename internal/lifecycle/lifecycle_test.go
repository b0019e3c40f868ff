package lifecycle

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// fakePart records the commands it gets; it ramps when ramped is set,
// drains when drained is set, and ends on Stop (or on end()).
type fakePart struct {
	ramped, drained atomic.Bool
	mu              sync.Mutex
	cmds            []Command
	done            chan struct{}
	once            sync.Once
}

func newFake() *fakePart { return &fakePart{done: make(chan struct{})} }

func (f *fakePart) Command(c Command) {
	f.mu.Lock()
	f.cmds = append(f.cmds, c)
	f.mu.Unlock()
	if c == Stop {
		f.end()
	}
}
func (f *fakePart) end()                  { f.once.Do(func() { close(f.done) }) }
func (f *fakePart) Ramped() bool          { return f.ramped.Load() }
func (f *fakePart) Drained() bool         { return f.drained.Load() }
func (f *fakePart) Done() <-chan struct{} { return f.done }
func (f *fakePart) commands() []Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

func waitPhase(t *testing.T, s *Supervisor, phase string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Phase() != phase; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("phase %q, want %q", s.Phase(), phase)
		}
	}
}

// The hold is timed from the end of the ramp; then the part is quieted,
// waited for until drained, and only then stopped.
func TestSupervisorHoldQuietDrainClose(t *testing.T) {
	p := newFake()
	var holds, holdEnds atomic.Int32
	s := New(p, Options{Hold: 50 * time.Millisecond, Drain: 5 * time.Second, Watch: time.Millisecond,
		OnHold: func() { holds.Add(1) }, OnHoldEnd: func(ended bool) {
			if ended {
				t.Error("OnHoldEnd says the part ended by itself")
			}
			holdEnds.Add(1)
		}})
	if s.Phase() != stats.PhasePlan {
		t.Fatalf("before Run: %q", s.Phase())
	}
	res := make(chan bool, 1)
	go func() { res <- s.Run(context.Background()) }()
	waitPhase(t, s, stats.PhaseRamp)
	time.Sleep(20 * time.Millisecond)
	if s.Phase() != stats.PhaseRamp {
		t.Fatalf("the hold began before the part ramped: %q", s.Phase())
	}
	p.ramped.Store(true)
	waitPhase(t, s, stats.PhaseHold)
	waitPhase(t, s, stats.PhaseClose) // the hold ended by itself, after Hold
	time.Sleep(20 * time.Millisecond)
	if got := p.commands(); !slices.Equal(got, []Command{Quiet}) {
		t.Fatalf("while not drained the part got %v, want only quiet", got)
	}
	p.drained.Store(true)
	if ended := <-res; ended {
		t.Fatal("Run says the part ended by itself")
	}
	if got := p.commands(); !slices.Equal(got, []Command{Quiet, Stop}) {
		t.Fatalf("commands %v, want quiet then stop", got)
	}
	if s.Phase() != stats.PhaseDone || holds.Load() != 1 || holdEnds.Load() != 1 {
		t.Fatalf("phase %q, OnHold %d, OnHoldEnd %d", s.Phase(), holds.Load(), holdEnds.Load())
	}
	<-s.Done()
}

// Stop during the ramp ends the run the same way; the drain is bounded.
func TestSupervisorStopInRampBoundedDrain(t *testing.T) {
	p := newFake() // never ramps, never drains
	s := New(p, Options{Drain: 30 * time.Millisecond, Watch: time.Millisecond})
	s.Command(Stop) // before Run: Run ends at once
	s.Command(Stop) // any number of times
	if ended := s.Run(context.Background()); ended {
		t.Fatal("ended by itself")
	}
	if got := p.commands(); !slices.Equal(got, []Command{Quiet, Stop}) {
		t.Fatalf("commands %v", got)
	}
	if s.Run(context.Background()) {
		t.Fatal("a second Run did something")
	}
}

// A part that ends by itself is not quieted or stopped; Pause and Resume
// go straight to it; a cancelled context ends the hold.
func TestSupervisorPartEndsByItself(t *testing.T) {
	p := newFake()
	var endedSeen atomic.Bool
	s := New(p, Options{Watch: time.Millisecond, OnHoldEnd: func(ended bool) { endedSeen.Store(ended) }})
	res := make(chan bool, 1)
	go func() { res <- s.Run(context.Background()) }()
	s.Command(Pause)
	s.Command(Resume)
	p.end()
	if ended := <-res; !ended || !endedSeen.Load() {
		t.Fatalf("ended %v, OnHoldEnd saw %v", ended, endedSeen.Load())
	}
	if got := p.commands(); !slices.Equal(got, []Command{Pause, Resume}) {
		t.Fatalf("commands %v", got)
	}

	p = newFake()
	p.drained.Store(true)
	s = New(p, Options{Watch: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s.Run(ctx) || !slices.Equal(p.commands(), []Command{Quiet, Stop}) {
		t.Fatalf("a cancelled context: commands %v", p.commands())
	}
}

// Remote watches merged snapshots: ramped once every part holds, drained
// as its predicate says.
func TestRemote(t *testing.T) {
	var sent []Command
	snap := stats.Snapshot{Phase: stats.PhaseRamp}
	r := Remote{Send: func(c Command) { sent = append(sent, c) }, Merged: func() stats.Snapshot { return snap },
		Empty: func(s stats.Snapshot) bool { return s.Sent == 0 }, Ended: make(chan struct{})}
	if r.Ramped() || !r.Drained() {
		t.Fatal("ramping, nothing sent")
	}
	snap.Phase, snap.Sent = stats.PhaseHold, 1
	if !r.Ramped() || r.Drained() {
		t.Fatal("holding, one sent")
	}
	r.Command(Quiet)
	if !slices.Equal(sent, []Command{Quiet}) {
		t.Fatal(sent)
	}
}

func TestParseCommand(t *testing.T) {
	for _, c := range Commands {
		if got, err := ParseCommand(string(c)); err != nil || got != c {
			t.Fatalf("%q: %q %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "STOP", "stop ", "explode"} {
		if _, err := ParseCommand(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

// fakeRun is a Run for Obey.
type fakeRun struct {
	*fakePart
	snaps atomic.Int32
}

func (f *fakeRun) Snapshot() stats.Snapshot { f.snaps.Add(1); return stats.Snapshot{Held: 3} }

// Obey hands every command to the part, tells it to stop when the parent
// goes away, and returns once it is done.
func TestObey(t *testing.T) {
	r := &fakeRun{fakePart: newFake()}
	cmds := make(chan Command, 2)
	cmds <- Pause
	cmds <- Quiet
	var mu sync.Mutex
	var published []stats.Snapshot
	ret := make(chan struct{})
	go func() {
		Obey(cmds, func(s stats.Snapshot) { mu.Lock(); published = append(published, s); mu.Unlock() }, r)
		close(ret)
	}()
	for deadline := time.Now().Add(5 * time.Second); len(r.commands()) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("commands not obeyed")
		}
	}
	close(cmds) // the parent is gone
	select {
	case <-ret:
	case <-time.After(5 * time.Second):
		t.Fatal("Obey did not return once its part was done")
	}
	if got := r.commands(); !slices.Equal(got, []Command{Pause, Quiet, Stop}) {
		t.Fatalf("commands %v", got)
	}
}
