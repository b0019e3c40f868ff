package loadclient

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/stats"
)

// Env is what the plan needs to know about the host (the port range, the
// fd limit, CPUs): the host facts every imtool command reads. ReadEnv
// fills it; tests write it by hand.
type Env = host.Facts

// ReadEnv reads this machine's facts.
func ReadEnv() Env { return host.Read(host.Machine) }

// autoHeadroom is what --procs auto plans over the connections a process
// holds: its shards are exact slices, so 10% covers what else opens fds.
const autoHeadroom = 1.1

// Shard is one process's slice of the plan: connections First to
// First+Count-1 (global indexes; uid = UIDBase + index).
type Shard struct {
	Index int
	First int
	Count int
}

// Plan says how many connections go to which ip:port from which source ip,
// and in which process. Connection g (0 ≤ g < Conns) dials Dests[g % D'] from
// Sources[(g / D') % S], D' = len(Dests): consecutive connections walk the
// destinations first, so every (source, destination) pair gets Conns/pairs
// connections, rounded up at most by one.
type Plan struct {
	Conns   int
	Targets []Target
	Dests   []netip.AddrPort
	// Sources are bound round-robin (with IP_BIND_ADDRESS_NO_PORT); empty
	// means unbound: the kernel picks the source.
	Sources     []netip.Addr
	AutoSources bool // Sources were chosen by the plan (loopback targets)
	PortRange   [2]int
	// Capacity is S·D·P·R: how many connections the host can open to these
	// destinations at all.
	Capacity int64
	Pairs    int // (source, destination) pairs
	PerPair  int // the most connections one pair gets
	Procs    int
	Shards   []Shard
	Notes    []string // what the plan chose, for the person
	Warnings []string // slow but possible, with the fix
}

// PlanError is a plan that cannot work; Error says why and how to fix it.
type PlanError struct{ Msg string }

func (e *PlanError) Error() string { return e.Msg }

func refuse(format string, args ...any) error { return &PlanError{fmt.Sprintf(format, args...)} }

// PortRangeSize is R, the number of local ports.
func (p *Plan) PortRangeSize() int {
	if p.PortRange[1] < p.PortRange[0] || p.PortRange[0] == 0 {
		return 0
	}
	return p.PortRange[1] - p.PortRange[0] + 1
}

// Dest is the destination index of connection g.
func (p *Plan) Dest(g int) int { return g % len(p.Dests) }

// Source is the source index of connection g, or -1 when unbound.
func (p *Plan) Source(g int) int {
	if len(p.Sources) == 0 {
		return -1
	}
	return (g / len(p.Dests)) % len(p.Sources)
}

// NewPlan plans o on a host described by env. It is pure apart from
// resolving host names (o.Lookup). Impossible plans return a *PlanError
// with the fix.
func NewPlan(o Options, env Env) (*Plan, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, &PlanError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	targets, err := resolveTargets(ctx, o)
	if err != nil {
		return nil, &PlanError{err.Error()}
	}
	p := &Plan{Conns: o.Conns, Targets: targets, PortRange: env.PortRange}
	loopback := true
	for _, t := range targets {
		for _, port := range t.Ports {
			p.Dests = append(p.Dests, netip.AddrPortFrom(t.Addr, port))
		}
		loopback = loopback && t.Addr.IsLoopback()
	}
	for _, s := range o.SourceIPs {
		for _, t := range targets {
			if s.Is4() != t.Addr.Is4() {
				return nil, refuse("--source-ips %s and --target %s are not the same IP version: give IPv4 sources for IPv4 targets", s, t.Addr)
			}
		}
	}
	d := len(p.Dests)
	r := p.PortRangeSize()
	half := r / 2
	n := o.Conns
	p.Sources = o.SourceIPs
	if r > 0 {
		needed := ceilDiv(n, max(half, 1)) // pairs needed to stay under R/2
		if len(p.Sources) == 0 && loopback && needed > d && targets[0].Addr.Is4() {
			s := ceilDiv(needed, d)
			if s > 253*256 {
				return nil, refuse("%d connections need %d loopback source IPs: too many; widen the port range (imtool tune apply --role client) or add target ports", n, s)
			}
			p.Sources = loopbackSources(s)
			p.AutoSources = true
		}
		sources := max(len(p.Sources), 1)
		p.Pairs = sources * d
		p.Capacity = int64(p.Pairs) * int64(r)
		p.PerPair = ceilDiv(n, p.Pairs)
		fix := sourceFix(loopback, o.SourceIPs, ceilDiv(needed, d))
		switch {
		case int64(n) > p.Capacity:
			return nil, refuse("cannot open %s connections: capacity is %s (%d source IPs × %d destinations × %d local ports); needs ≥ %d source×port pairs to stay under half the port range; you have %d: %s, or widen the range with `imtool tune apply --role client`",
				thousands(n), stats.Thousands(p.Capacity), sources, d, r, needed, p.Pairs, fix)
		case p.PerPair > half:
			p.Warnings = append(p.Warnings, fmt.Sprintf("slow plan: %s connections per (source, destination) pair is past half the port range (%s of %d): connect() slows ~8× as the kernel searches for free ports; needs ≥ %d source×port pairs to stay under half the port range; you have %d: %s, or widen the range with `imtool tune apply --role client`",
				thousands(p.PerPair), thousands(half), r, needed, p.Pairs, fix))
		}
		if perDest := ceilDiv(n, d); perDest > half && p.PerPair <= half {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s connections per destination port is past half the port range (%s): the extra source IPs keep capacity, but connects to one ip:port still slow down several-fold on Linux 6.x (measured here: 19,000 to 1 port ≈ 5k/s even from 19 sources, to 20 ports ≈ 36k/s); more target ports or IPs keep the rate",
				thousands(perDest), thousands(half)))
		}
		if p.AutoSources {
			p.Notes = append(p.Notes, fmt.Sprintf("loopback target: dialing from %d source IPs %s so no (source, port) pair holds more than %s connections (half the port range is %s)",
				len(p.Sources), FormatSourceIPs(p.Sources), thousands(p.PerPair), thousands(half)))
		}
	} else {
		p.Pairs = max(len(p.Sources), 1) * d
		p.PerPair = ceilDiv(n, p.Pairs)
		p.Notes = append(p.Notes, "local port range unknown: capacity not checked")
	}

	// Processes.
	limit := env.Nofile()
	if o.Shard.Count > 0 { // a child: its slice was planned by the parent
		p.Procs = 1
		p.Shards = []Shard{o.Shard}
		if limit > 0 && host.ConnsPerProcess(limit, 0, 1) < int64(o.Shard.Count) {
			return nil, refuse("shard %d: %d connections need RLIMIT_NOFILE ≥ %d; this process may open %d", o.Shard.Index, o.Shard.Count, host.NofileFor(o.Shard.Count, 0, 1), limit)
		}
		return p, nil
	}
	procs := o.Procs
	if procs == 0 {
		procs = AutoProcs(n, limit)
		if procs > 1 {
			p.Notes = append(p.Notes, fmt.Sprintf("--procs auto: %d processes of about %s connections each (RLIMIT_NOFILE is %d per process)", procs, thousands(ceilDiv(n, procs)), limit))
		}
	}
	procs = min(procs, n)
	per := ceilDiv(n, procs)
	if limit > 0 && host.ConnsPerProcess(limit, 0, 1) < int64(per) {
		need := host.Procs(n, limit, 0, 1)
		return nil, refuse("%s connections in %d process(es) need RLIMIT_NOFILE ≥ %s each; a process here may open %s: use --procs auto (%d or more processes), or raise the limit with `imtool tune apply --role client`",
			thousands(n), procs, stats.Thousands(host.NofileFor(per, 0, 1)), stats.Thousands(limit), need)
	}
	p.Procs = procs
	for i, first := 0, 0; i < procs; i++ {
		c := n / procs
		if i < n%procs {
			c++
		}
		p.Shards = append(p.Shards, Shard{Index: i, First: first, Count: c})
		first += c
	}
	return p, nil
}

// AutoProcs is --procs auto: enough processes that each stays under its
// RLIMIT_NOFILE with 10% headroom (host.Procs).
func AutoProcs(conns int, nofile int64) int { return host.Procs(conns, nofile, 0, autoHeadroom) }

// loopbackSources returns n addresses from 127.0.0.2 upward.
func loopbackSources(n int) []netip.Addr {
	out := make([]netip.Addr, 0, n)
	a := netip.AddrFrom4([4]byte{127, 0, 0, 2})
	for len(out) < n {
		if b := a.As4(); b[3] != 0 && b[3] != 255 {
			out = append(out, a)
		}
		a = a.Next()
	}
	return out
}

// sourceFix is the --source-ips advice for s source IPs.
func sourceFix(loopback bool, have []netip.Addr, s int) string {
	s = max(s, len(have)+1)
	if loopback {
		src := loopbackSources(s)
		return fmt.Sprintf("add `--source-ips %s-%s`", src[0], src[len(src)-1])
	}
	return fmt.Sprintf("add `--source-ips` with ≥ %d addresses of this host", s)
}

func ceilDiv(a, b int) int {
	if b <= 0 {
		return a
	}
	return (a + b - 1) / b
}

// thousands writes 19000 as "19,000".
func thousands(n int) string { return stats.Thousands(int64(n)) }

// Describe is the plan in a few lines, for the person before the first
// connect.
func (p *Plan) Describe() string {
	var b strings.Builder
	src := "kernel-chosen source"
	if len(p.Sources) > 0 {
		src = fmt.Sprintf("%d source IPs (%s)", len(p.Sources), FormatSourceIPs(p.Sources))
	}
	fmt.Fprintf(&b, "plan: %s connections to %d destinations from %s; %d pairs, ≤ %s per pair", thousands(p.Conns), len(p.Dests), src, p.Pairs, thousands(p.PerPair))
	if r := p.PortRangeSize(); r > 0 {
		fmt.Fprintf(&b, " (port range %d-%d, R/2 = %s; capacity %s)", p.PortRange[0], p.PortRange[1], thousands(r/2), stats.Thousands(p.Capacity))
	}
	if p.Procs > 1 {
		fmt.Fprintf(&b, "; %d processes", p.Procs)
	}
	for _, n := range p.Notes {
		b.WriteString("\nnote: " + n)
	}
	for _, w := range p.Warnings {
		b.WriteString("\nwarning: " + w)
	}
	return b.String()
}
