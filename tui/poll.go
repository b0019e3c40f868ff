package tui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// Polling defaults.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = 800 * time.Millisecond // per request, at most the interval
)

// Errors in PollOptions, for the CLI to tell a usage error from a failure.
var (
	ErrNoSource = errors.New("nothing to watch: give --server, --dispatcher or --swarm with a process's stats URL (e.g. http://127.0.0.1:9100)")
	ErrBadURL   = errors.New("not a stats URL")
)

// PollOptions name the /stats endpoints to watch and how.
type PollOptions struct {
	Server     string   // the gateway (a sharded server's parent included)
	Dispatcher string   // the dispatcher
	Swarms     []string // swarms or agents; several are merged
	// Interval between polls; 0 means DefaultInterval.
	Interval time.Duration
	// Timeout of one request; 0 means DefaultTimeout, capped at Interval.
	Timeout time.Duration
	// Client makes the requests; nil means a client of its own.
	Client *http.Client
	// Host reads the machine's state each poll; nil means stats.ReadHost.
	Host func() stats.Host
	// Log receives a line when a source goes down or comes back; nil
	// discards them.
	Log *log.Logger
}

// Poller builds samples from running processes' /stats endpoints. A source
// that fails keeps its last numbers, marked Down, until it answers again.
type Poller struct {
	opts   PollOptions
	start  time.Time
	server *source
	disp   *source
	swarms []*source
}

// source is one endpoint and what it said last.
type source struct {
	url, kind string
	last      stats.Snapshot
	seen      bool
	down      bool
}

// NewPoller checks the URLs; at least one is needed. A URL without a path
// gets /stats, one without a scheme gets http://.
func NewPoller(opts PollOptions) (*Poller, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	opts.Timeout = min(opts.Timeout, opts.Interval)
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Host == nil {
		opts.Host = stats.ReadHost
	}
	if opts.Log == nil {
		opts.Log = log.New(io.Discard, "", 0)
	}
	p := &Poller{opts: opts, start: time.Now()}
	var err error
	mk := func(raw, kind string) *source {
		if raw == "" || err != nil {
			return nil
		}
		var u string
		u, err = statsURL(raw)
		return &source{url: u, kind: kind}
	}
	p.server = mk(opts.Server, stats.KindGateway)
	p.disp = mk(opts.Dispatcher, stats.KindDispatcher)
	for _, s := range opts.Swarms {
		if src := mk(s, stats.KindSwarm); src != nil {
			p.swarms = append(p.swarms, src)
		}
	}
	if err != nil {
		return nil, err
	}
	if p.server == nil && p.disp == nil && len(p.swarms) == 0 {
		return nil, ErrNoSource
	}
	return p, nil
}

func statsURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q: %w: use http://HOST:PORT, the address given to the process's --stats", raw, ErrBadURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/stats"
	}
	return u.String(), nil
}

// Run polls every interval, the first time at once, and hands each sample
// to sink until ctx ends.
func (p *Poller) Run(ctx context.Context, sink stats.Sink) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for {
		s := p.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		sink.Update(s)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll asks every source once, at the same time, and returns the sample.
// It is not safe for concurrent use.
func (p *Poller) Poll(ctx context.Context) stats.Sample {
	all := append([]*source{p.server, p.disp}, p.swarms...)
	var wg sync.WaitGroup
	for _, src := range all {
		if src == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.ask(ctx, src)
		}()
	}
	host := p.opts.Host()
	wg.Wait()

	s := stats.Sample{T: time.Since(p.start).Seconds(), Host: &host}
	if p.server != nil {
		v := p.server.snapshot()
		s.Server = &v
	}
	if p.disp != nil {
		v := p.disp.snapshot()
		s.Dispatcher = &v
	}
	switch len(p.swarms) {
	case 0:
	case 1:
		s.Swarm = p.swarms[0].snapshot()
	default:
		parts := make([]stats.Snapshot, len(p.swarms))
		down := true
		for i, src := range p.swarms {
			parts[i] = src.snapshot()
			down = down && parts[i].Down
		}
		s.Swarm = stats.Merge(stats.KindSwarm, "", parts)
		s.Swarm.Down = down
	}
	if !s.Swarm.Down && s.Swarm.UptimeS > 0 {
		s.T = s.Swarm.UptimeS // the run's elapsed time, not the dashboard's
	}
	return s
}

// ask fetches one source's snapshot, marking it down or up.
func (p *Poller) ask(ctx context.Context, src *source) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	snap, err := fetch(ctx, p.opts.Client, src.url)
	if err != nil {
		if !src.down {
			p.opts.Log.Printf("%s %s is down: %v", src.kind, src.url, err)
		}
		src.down = true
		return
	}
	if src.down {
		p.opts.Log.Printf("%s %s answers again", src.kind, src.url)
	}
	src.last, src.seen, src.down = snap, true, false
}

func fetch(ctx context.Context, c *http.Client, u string) (stats.Snapshot, error) {
	var s stats.Snapshot
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return s, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("GET %s: not a stats snapshot: %w", u, err)
	}
	return s, nil
}

// snapshot is what the source said last, marked Down when it stopped
// answering; a source never heard from is an empty snapshot, down.
func (src *source) snapshot() stats.Snapshot {
	if !src.seen {
		return stats.Snapshot{Kind: src.kind, ID: src.url, Down: true}
	}
	s := src.last.Clone()
	s.Down = src.down
	return s
}

// AttachOptions configure Attach: what to watch and how to show it.
type AttachOptions struct {
	PollOptions
	Target int64    // the connections expected, for the progress bar
	Title  string   // the screen's title
	Out    *os.File // where to show it; nil means os.Stdout
	// LogFile receives the poller's log lines (sources going down and
	// coming back); empty discards them. Logs never go to the screen.
	LogFile string
}

// Attach watches running processes until ctx ends or the person quits: the
// dashboard when Out is a terminal, one progress line per interval
// otherwise.
func Attach(ctx context.Context, opts AttachOptions) error {
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	if opts.LogFile != "" {
		f, err := os.OpenFile(opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("cannot open the log file: %w", err)
		}
		defer f.Close()
		opts.Log = log.New(f, "", log.LstdFlags)
	}
	p, err := NewPoller(opts.PollOptions)
	if err != nil {
		return err
	}
	if !IsTerminal(out) {
		p.Run(ctx, NewLine(out))
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := New(Options{Target: opts.Target, Title: opts.Title})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Run(ctx, d)
	}()
	go func() {
		<-ctx.Done()
		_ = d.Close()
	}()
	err = d.Run()
	cancel()
	wg.Wait()
	return err
}
