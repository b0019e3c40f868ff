package tui

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/imtool/imtool/internal/stats"
)

// calls counts the callbacks a run gives the dashboard.
type calls struct {
	stop, kill atomic.Int32
	mu         sync.Mutex
	pauses     []bool
}

func (c *calls) options() Options {
	return Options{
		Title: "test",
		Stop:  func() { c.stop.Add(1) },
		Kill:  func() { c.kill.Add(1) },
		Pause: func(p bool) { c.mu.Lock(); c.pauses = append(c.pauses, p); c.mu.Unlock() },
	}
}

var (
	keyQ     = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")}
	keyP     = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("p")}
	keyHelp  = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("?")}
	keyCtrlC = tea.KeyMsg{Type: tea.KeyCtrlC}
)

// press sends a key and runs the command it returns, as the program would;
// it reports whether that command quits.
func press(t *testing.T, m model, k tea.KeyMsg) (model, bool) {
	t.Helper()
	next, cmd := m.Update(k)
	if cmd == nil {
		return next.(model), false
	}
	_, quit := cmd().(tea.QuitMsg)
	return next.(model), quit
}

func TestKeys(t *testing.T) {
	t.Run("q stops once", func(t *testing.T) {
		var c calls
		m := testModel(c.options(), 80, 24)
		m, quit := press(t, m, keyQ)
		if quit || c.stop.Load() != 1 {
			t.Fatalf("first q: quit=%v stop=%d, want the run stopped and the screen up", quit, c.stop.Load())
		}
		m, _ = press(t, m, keyQ)
		_, quit = press(t, m, keyQ)
		if quit || c.stop.Load() != 1 || c.kill.Load() != 0 {
			t.Fatalf("more q: quit=%v stop=%d kill=%d, want nothing more", quit, c.stop.Load(), c.kill.Load())
		}
	})
	t.Run("second ctrl-c kills", func(t *testing.T) {
		var c calls
		m := testModel(c.options(), 80, 24)
		m, quit := press(t, m, keyCtrlC)
		if quit || c.stop.Load() != 1 || m.killed {
			t.Fatalf("first ctrl-c: quit=%v stop=%d killed=%v", quit, c.stop.Load(), m.killed)
		}
		m, quit = press(t, m, keyCtrlC)
		if !quit || !m.killed || c.stop.Load() != 1 {
			t.Fatalf("second ctrl-c: quit=%v killed=%v stop=%d", quit, m.killed, c.stop.Load())
		}
	})
	t.Run("q then ctrl-c kills", func(t *testing.T) {
		var c calls
		m := testModel(c.options(), 80, 24)
		m, _ = press(t, m, keyQ)
		m, quit := press(t, m, keyCtrlC)
		if !quit || !m.killed || c.stop.Load() != 1 {
			t.Fatalf("ctrl-c after q: quit=%v killed=%v stop=%d", quit, m.killed, c.stop.Load())
		}
	})
	t.Run("p toggles pause", func(t *testing.T) {
		var c calls
		m := testModel(c.options(), 80, 24)
		for range 3 {
			m, _ = press(t, m, keyP)
		}
		if !m.paused || len(c.pauses) != 3 || !c.pauses[0] || c.pauses[1] || !c.pauses[2] {
			t.Fatalf("paused=%v calls=%v, want true after true,false,true", m.paused, c.pauses)
		}
	})
	t.Run("? shows help", func(t *testing.T) {
		m := testModel(run, 80, 24)
		m, _ = press(t, m, keyHelp)
		if !m.help || !bytes.Contains([]byte(m.View()), []byte("pause the ramp")) {
			t.Fatalf("help not shown:\n%s", m.View())
		}
		m, _ = press(t, m, keyHelp)
		if m.help {
			t.Fatal("? again should hide the help")
		}
	})
	t.Run("without Stop q quits", func(t *testing.T) {
		m := testModel(Options{}, 80, 24)
		if _, quit := press(t, m, keyQ); !quit {
			t.Fatal("q should quit a dashboard that has no run to stop")
		}
		if _, quit := press(t, m, keyP); quit {
			t.Fatal("p without Pause should do nothing")
		}
	})
}

// The whole program: samples arrive through the feed, the first Ctrl-C
// stops the run, the second quits and then calls Kill, and Run returns.
func TestRunStopThenKill(t *testing.T) {
	var c calls
	d := New(c.options())
	in, keys := io.Pipe()
	var out bytes.Buffer
	d.progOpts = []tea.ProgramOption{tea.WithInput(in), tea.WithOutput(&safeWriter{w: &out}), tea.WithoutSignals()}
	d.renderer = plainRenderer()
	for _, s := range ramp() {
		d.Update(s) // never blocks, even before Run
	}
	done := make(chan error, 1)
	go func() { done <- d.Run() }()

	_, _ = keys.Write([]byte{0x03})
	waitFor(t, "Stop", func() bool { return c.stop.Load() == 1 })
	_, _ = keys.Write([]byte{0x03})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the second Ctrl-C")
	}
	if c.kill.Load() != 1 || c.stop.Load() != 1 {
		t.Fatalf("stop=%d kill=%d, want 1 and 1", c.stop.Load(), c.kill.Load())
	}
	_ = keys.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close ends Run and waits for it; Update after Close is a no-op.
func TestCloseEndsRun(t *testing.T) {
	d := New(Options{})
	in, keys := io.Pipe()
	defer keys.Close()
	d.progOpts = []tea.ProgramOption{tea.WithInput(in), tea.WithOutput(io.Discard), tea.WithoutSignals()}
	d.renderer = plainRenderer()
	done := make(chan error, 1)
	go func() { done <- d.Run() }()
	d.Update(stats.Sample{T: 1})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	d.Update(stats.Sample{T: 2})
	_ = d.Close()
	if err := New(Options{}).Close(); err != nil { // never run
		t.Fatal(err)
	}
}

// Update never blocks: a producer far ahead of the screen loses the oldest
// samples, and the newest is always the one kept.
func TestUpdateDropsOldest(t *testing.T) {
	d := New(Options{})
	for i := range 100 {
		d.Update(stats.Sample{T: float64(i)})
	}
	var got []float64
	for range feedSize {
		got = append(got, (<-d.feed.ch).T)
	}
	if got[len(got)-1] != 99 || got[0] != 100-feedSize {
		t.Fatalf("kept %v, want the last %d", got, feedSize)
	}
}

// The caller may change its maps after Update: the dashboard keeps a copy.
func TestUpdateCopies(t *testing.T) {
	d := New(Options{})
	s := stats.Sample{Swarm: stats.Snapshot{Errors: map[string]int64{"x": 1}}}
	d.Update(s)
	s.Swarm.Errors["x"] = 2
	if got := (<-d.feed.ch).Swarm.Errors["x"]; got != 1 {
		t.Fatalf("the dashboard saw the caller's change: %d", got)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type safeWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *safeWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
