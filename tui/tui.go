// Package tui is imtool's live view of a run: a bubbletea dashboard over the
// one stream of stats.Sample values (what the swarm, the gateway, the
// dispatcher and the host say each second), a plain progress line for when
// stdout is not a terminal, and a poller that builds those samples from
// running processes' /stats endpoints for `imtool dash`.
//
// Both the dashboard and the line are stats.Sink values, so a swarm or a
// bench run feeds them exactly as it feeds the run record. The dashboard
// follows the bubbletea examples: samples reach the model through a
// channel-reading command that Update re-arms, every side effect (the run's
// Stop, Pause and Kill callbacks, reading the port range) happens inside a
// command, and View only builds a string.
package tui

import (
	"os"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"

	"github.com/imtool/imtool/internal/stats"
)

// DefaultTitle is shown in the header when Options.Title is empty.
const DefaultTitle = "imtool"

// feedSize is how many samples wait for the screen before the oldest is
// dropped: the screen shows the newest, and a producer never waits.
const feedSize = 4

// Options configure a Dashboard. Every callback is optional and is called
// from a goroutine of the dashboard's own, never from the producer's.
type Options struct {
	// Target is the number of connections the run aims for; 0 takes the
	// swarm snapshot's Target.
	Target int64
	// Title heads the screen, e.g. "imtool bench".
	Title string
	// Stop is called once, on the first q or Ctrl-C: stop the run
	// gracefully. The dashboard stays up until Close. When Stop is nil, q and
	// Ctrl-C quit the dashboard at once (imtool dash).
	Stop func()
	// Kill is called on a second Ctrl-C, after the dashboard has quit and
	// the terminal has been restored: exit at once.
	Kill func()
	// Pause is called with true when p pauses the ramp and false when p
	// resumes it. When nil, p does nothing.
	Pause func(paused bool)
	// Hold is how long the swarm holds its connections once ramped, for
	// the countdown in the header; 0 holds until stopped.
	Hold time.Duration
	// PortRange is the local port range [low, high] the swarm dials from,
	// to show how much of it is used; zero reads the host's
	// net.ipv4.ip_local_port_range when the dashboard starts.
	PortRange [2]int
}

// Dashboard is the full-screen live view. It is a stats.Sink: Update hands it
// a sample without ever blocking, Close ends it. Run shows it.
type Dashboard struct {
	opts Options
	feed *feed

	mu      sync.Mutex
	closed  bool
	running bool
	exited  chan struct{}

	// progOpts replace the terminal in tests.
	progOpts []tea.ProgramOption
	renderer *lipgloss.Renderer
}

var _ stats.Sink = (*Dashboard)(nil)

// New returns a dashboard that shows nothing until Run.
func New(opts Options) *Dashboard {
	return &Dashboard{
		opts:     opts,
		feed:     newFeed(),
		exited:   make(chan struct{}),
		progOpts: []tea.ProgramOption{tea.WithAltScreen()},
		renderer: lipgloss.NewRenderer(os.Stdout),
	}
}

// Update hands the dashboard a sample. It never blocks: when the screen is
// behind, the oldest waiting sample is dropped. The sample is copied, so the
// caller may go on changing its maps.
func (d *Dashboard) Update(s stats.Sample) { d.feed.put(cloneSample(s)) }

// Close ends the dashboard and, when Run is showing it, waits until the
// terminal has been restored. It may be called more than once.
func (d *Dashboard) Close() error {
	d.mu.Lock()
	first := !d.closed
	d.closed = true
	running := d.running
	d.mu.Unlock()
	if first {
		d.feed.close()
	}
	if running {
		<-d.exited
	}
	return nil
}

// Run shows the dashboard on the alternate screen until Close, or until the
// person quits it (q without a Stop callback, or a second Ctrl-C, which then
// calls Kill). The terminal is restored when it returns. Run after Close
// returns at once.
func (d *Dashboard) Run() error {
	d.mu.Lock()
	if d.closed || d.running {
		d.mu.Unlock()
		return nil
	}
	d.running = true
	d.mu.Unlock()
	defer close(d.exited)

	// Ask the terminal about colours now, before the program owns its
	// input: a query answered while bubbletea reads keys would be lost.
	d.renderer.ColorProfile()
	d.renderer.HasDarkBackground()
	p := tea.NewProgram(newModel(d.opts, d.feed, d.renderer), d.progOpts...)
	final, err := p.Run()
	if m, ok := final.(model); ok && m.killed && d.opts.Kill != nil {
		d.opts.Kill()
	}
	return err
}

// IsTerminal reports whether f is a terminal, to choose between the
// dashboard and the plain line.
func IsTerminal(f *os.File) bool { return f != nil && term.IsTerminal(f.Fd()) }

// feed carries samples from producers to the model: a small buffer that
// drops its oldest sample instead of blocking, and a done channel closed by
// Dashboard.Close.
type feed struct {
	put1 sync.Mutex // serializes producers, so drop-oldest cannot spin
	ch   chan stats.Sample
	done chan struct{}
	once sync.Once
}

func newFeed() *feed {
	return &feed{ch: make(chan stats.Sample, feedSize), done: make(chan struct{})}
}

func (f *feed) put(s stats.Sample) {
	f.put1.Lock()
	defer f.put1.Unlock()
	for {
		select {
		case <-f.done:
			return
		case f.ch <- s:
			return
		default:
		}
		select {
		case <-f.ch: // drop the oldest
		default:
		}
	}
}

func (f *feed) close() { f.once.Do(func() { close(f.done) }) }

// wait is the channel-reading command: it delivers the next sample, or
// closedMsg once the dashboard is closed. Update re-arms it.
func (f *feed) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case s := <-f.ch:
			return sampleMsg(s)
		case <-f.done:
			return closedMsg{}
		}
	}
}

func cloneSample(s stats.Sample) stats.Sample {
	c := s
	c.Swarm = s.Swarm.Clone()
	if s.Server != nil {
		v := s.Server.Clone()
		c.Server = &v
	}
	if s.Dispatcher != nil {
		v := s.Dispatcher.Clone()
		c.Dispatcher = &v
	}
	if s.Host != nil {
		v := *s.Host
		c.Host = &v
	}
	return c
}
