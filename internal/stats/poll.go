package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Polling defaults.
const (
	PollInterval = time.Second
	PollTimeout  = 800 * time.Millisecond // per request, at most the interval
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
	// Interval between polls; 0 means PollInterval.
	Interval time.Duration
	// Timeout of one request; 0 means PollTimeout, capped at Interval.
	Timeout time.Duration
	// Client makes the requests; nil means a client of its own.
	Client *http.Client
	// Host reads the machine's state each poll; nil means ReadHost.
	Host func() Host
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
	last      Snapshot
	seen      bool
	down      bool
}

// NewPoller checks the URLs; at least one is needed. A URL without a path
// gets /stats, one without a scheme gets http://.
func NewPoller(opts PollOptions) (*Poller, error) {
	if opts.Interval <= 0 {
		opts.Interval = PollInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = PollTimeout
	}
	opts.Timeout = min(opts.Timeout, opts.Interval)
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Host == nil {
		opts.Host = ReadHost
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
	p.server = mk(opts.Server, KindGateway)
	p.disp = mk(opts.Dispatcher, KindDispatcher)
	for _, s := range opts.Swarms {
		if src := mk(s, KindSwarm); src != nil {
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
func (p *Poller) Run(ctx context.Context, sink Sink) {
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
func (p *Poller) Poll(ctx context.Context) Sample {
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

	s := Sample{T: time.Since(p.start).Seconds(), Host: &host}
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
		parts := make([]Snapshot, len(p.swarms))
		down := true
		for i, src := range p.swarms {
			parts[i] = src.snapshot()
			down = down && parts[i].Down
		}
		s.Swarm = Merge(KindSwarm, "", parts)
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

func fetch(ctx context.Context, c *http.Client, u string) (Snapshot, error) {
	var s Snapshot
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
func (src *source) snapshot() Snapshot {
	if !src.seen {
		return Snapshot{Kind: src.kind, ID: src.url, Down: true}
	}
	s := src.last.Clone()
	s.Down = src.down
	return s
}
