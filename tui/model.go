package tui

import (
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/stats"
)

// Messages the model receives besides keys and window sizes.
type (
	sampleMsg    stats.Sample // the next second of the run
	closedMsg    struct{}     // Dashboard.Close was called
	portRangeMsg [2]int       // the host's local port range, read once
)

// rateHistory is how many connect-rate points the sparkline remembers: five
// minutes of one-second samples.
const rateHistory = 300

// model is the dashboard's state. Everything View shows is computed here or
// in View from these fields; nothing here does I/O.
type model struct {
	opts Options
	feed *feed
	st   styles

	width, height int

	s        stats.Sample
	have     bool
	rates    []float64             // connect rate per sample, oldest first
	prevLat  map[string]stats.Hist // swarm latencies one sample ago
	nowLat   map[string]stats.Hist // latencies of the last interval
	nowSecs  float64               // the length of that interval
	latT     float64               // when prevLat was taken
	msgs     msgRates              // message rates over the last interval
	holdT    float64               // when the hold began (sample time); -1 before
	srvCPU   cpuMeter
	dispCPU  cpuMeter
	srvMem   memMeter
	portLow  int
	portHigh int

	help     bool
	paused   bool
	stopping bool // Stop was called
	killed   bool // a second Ctrl-C: quit, then Kill
	quitting bool
}

func newModel(opts Options, f *feed, r *lipgloss.Renderer) model {
	return model{
		opts:     opts,
		feed:     f,
		st:       newStyles(r),
		width:    80,
		height:   24,
		portLow:  opts.PortRange[0],
		portHigh: opts.PortRange[1],
		holdT:    -1,
	}
}

// Init starts reading samples and, when the caller did not give one, the
// port range.
func (m model) Init() tea.Cmd {
	if m.portHigh > m.portLow {
		return m.feed.wait()
	}
	return tea.Batch(m.feed.wait(), readPortRange)
}

// readPortRange is the command that reads net.ipv4.ip_local_port_range; on
// hosts without it the port-range use is simply not shown.
func readPortRange() tea.Msg {
	r, err := host.ReadPortRange(host.Machine)
	if err != nil || r[1] <= r[0] {
		return nil
	}
	return portRangeMsg(r)
}

// Update handles one message.
func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case sampleMsg:
		m.observe(stats.Sample(msg))
		return m, m.feed.wait()
	case closedMsg:
		m.quitting = true
		return m, tea.Quit
	case portRangeMsg:
		m.portLow, m.portHigh = msg[0], msg[1]
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

// key handles the keys: q and Ctrl-C stop the run (a second Ctrl-C exits),
// p pauses and resumes the ramp, ? shows help, Esc hides it.
func (m model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.String() {
	case "ctrl+c":
		if m.stopping || m.opts.Stop == nil {
			m.killed = m.stopping
			m.quitting = true
			return m, tea.Quit
		}
		return m.stop()
	case "q":
		if m.opts.Stop == nil {
			m.quitting = true
			return m, tea.Quit
		}
		if m.stopping {
			return m, nil
		}
		return m.stop()
	case "p":
		if m.opts.Pause == nil || m.stopping {
			return m, nil
		}
		m.paused = !m.paused
		pause, paused := m.opts.Pause, m.paused
		return m, func() tea.Msg { pause(paused); return nil }
	case "?":
		m.help = !m.help
	case "esc":
		m.help = false
	}
	return m, nil
}

func (m model) stop() (tea.Model, tea.Cmd) {
	m.stopping = true
	stop := m.opts.Stop
	return m, func() tea.Msg { stop(); return nil }
}

// observe takes in one sample: the newest numbers, the connect rate for the
// sparkline, the latencies of the last interval and the server's CPU and
// memory growth.
func (m *model) observe(s stats.Sample) {
	prev, had := m.s, m.have
	m.s, m.have = s, true

	rate := s.Swarm.ConnectRate
	if rate == 0 && had && s.T > prev.T && s.Swarm.Established > prev.Swarm.Established {
		rate = float64(s.Swarm.Established-prev.Swarm.Established) / (s.T - prev.T)
	}
	m.rates = append(m.rates, rate)
	if len(m.rates) > rateHistory {
		m.rates = append(m.rates[:0], m.rates[len(m.rates)-rateHistory:]...)
	}

	if !s.Swarm.Down {
		m.nowLat = stats.LatencySince(s.Swarm.Latency, m.prevLat)
		m.nowSecs = s.T - m.latT
		m.prevLat, m.latT = s.Swarm.Latency, s.T
		if had && !prev.Swarm.Down && s.T > prev.T {
			m.msgs = newMsgRates(prev.Swarm, s.Swarm, s.T-prev.T)
		}
	}
	if s.Swarm.Phase == stats.PhaseHold && m.holdT < 0 {
		m.holdT = s.T
	}
	if s.Server != nil {
		m.srvCPU.observe(s.Server)
		m.srvMem.observe(s.Server)
	}
	if s.Dispatcher != nil {
		m.dispCPU.observe(s.Dispatcher)
	}
}

// msgRates are the swarm's messages per second over one interval.
type msgRates struct {
	sent, acked, delivered, pings, pongs float64
	ok                                   bool
}

func newMsgRates(prev, cur stats.Snapshot, dt float64) msgRates {
	per := func(a, b int64) float64 { return max(float64(b-a), 0) / dt }
	return msgRates{
		sent: per(prev.Sent, cur.Sent), acked: per(prev.Acked, cur.Acked), delivered: per(prev.Delivered, cur.Delivered),
		pings: per(prev.Pings, cur.Pings), pongs: per(prev.Pongs, cur.Pongs), ok: true,
	}
}

// holdLeft is the time left in the hold, and whether the hold is timed
// and has begun.
func (m model) holdLeft() (float64, bool) {
	if m.holdT < 0 || m.opts.Hold <= 0 {
		return 0, false
	}
	return max(m.opts.Hold.Seconds()-(m.s.T-m.holdT), 0), true
}

// cpuMeter turns a process's cumulative CPU seconds into a percentage of one
// core over the last interval, as top shows it.
type cpuMeter struct {
	cpu, up float64
	pct     float64
	ok, has bool
}

func (c *cpuMeter) observe(s *stats.Snapshot) {
	if s.Down {
		return
	}
	if c.has && s.UptimeS > c.up && s.CPUSeconds >= c.cpu {
		c.pct = 100 * (s.CPUSeconds - c.cpu) / (s.UptimeS - c.up)
		c.ok = true
	} else if c.has && s.UptimeS < c.up {
		c.ok = false // restarted
	}
	c.cpu, c.up, c.has = s.CPUSeconds, s.UptimeS, true
}

// memMeter measures bytes per connection as the run record does: the growth
// of private memory (Process.UserBytes) divided by the growth of
// connections since the first snapshot seen.
type memMeter struct {
	user, conns, up int64
	has             bool
}

// minGrowth is how many connections must have been added before memory growth
// per connection means something.
const minGrowth = 100

func (mm *memMeter) observe(s *stats.Snapshot) {
	if s.Down {
		return
	}
	if !mm.has || int64(s.UptimeS) < mm.up {
		mm.user, mm.conns, mm.has = s.UserBytes(), s.Connections, true
	}
	mm.up = int64(s.UptimeS)
}

// perConn returns bytes per connection and whether it is measured from
// growth (true) or only an upper bound, all private memory over all
// connections.
func (mm memMeter) perConn(s *stats.Snapshot) (float64, bool) {
	if mm.has && s.Connections-mm.conns >= minGrowth {
		return float64(s.UserBytes()-mm.user) / float64(s.Connections-mm.conns), true
	}
	if s.Connections > 0 {
		return float64(s.UserBytes()) / float64(s.Connections), false
	}
	return 0, false
}
