package tuner

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/stats"
)

// Memory estimates per socket or connection, which plan and bench's
// preflight size hosts with.
const (
	KernelBytesPerSocket = 4096 // idle established TCP socket: tcp_sock, inode, file, dentry, epoll item
	ServerBytesPerConn   = 360  // evio, upper end of 270–360 B per idle connection
	SwarmBytesPerConn    = 64   // the swarm's fd-indexed, pointer-free state (estimate)
)

// widestRange is the largest ephemeral range tune will set.
var widestRange = portRange{1024, 65535}

// PlanOptions describe a whole test.
type PlanOptions struct {
	Root        string   `json:"root"`         // where /proc is read (RLIMIT_NOFILE, the live port range)
	Conns       int      `json:"conns"`        // connections in total
	ServerPorts []uint16 `json:"server_ports"` // listening ports
	ServerIPs   int      `json:"server_ips"`   // server addresses the swarm spreads over
	SourceIPs   int      `json:"source_ips"`   // source addresses per client host
	ClientHosts int      `json:"client_hosts"` // hosts running a swarm
	PortRange   string   `json:"port_range"`   // "LO-HI"; empty reads the live range
	Target      string   `json:"target"`       // address the swarm dials; loopback puts both ends on one host
	Headroom    float64  `json:"headroom"`
}

// HostPlan is what one host carries and the commands to run on it.
type HostPlan struct {
	Host        string   `json:"host"`
	Role        Role     `json:"role"`
	Conns       int      `json:"conns"`
	Processes   int64    `json:"processes"`
	KernelBytes int64    `json:"kernel_bytes"`
	UserBytes   int64    `json:"user_bytes"`
	Commands    []string `json:"commands"`
}

// PlanResult is the capacity arithmetic for a test.
type PlanResult struct {
	// Headline answers the question the options ask, for the range given:
	// how many client hosts (or, on one host, source IPs) the connections
	// need to fit the port range, and to stay under half of it.
	Headline string `json:"headline"`
	// NeededToFit and NeededUnderHalf are those two numbers: client hosts
	// with SourceIPs each, or source IPs when the swarm shares the server's
	// host (SameHost).
	NeededToFit     int64       `json:"needed_to_fit"`
	NeededUnderHalf int64       `json:"needed_under_half"`
	Options         PlanOptions `json:"options"`
	RangeLow        int         `json:"range_low"`
	RangeHigh       int         `json:"range_high"`
	RangeFrom       string      `json:"range_from"` // "live", "--port-range" or "kernel default"
	SameHost        bool        `json:"same_host"`
	PerClientHost   int         `json:"per_client_host"`
	Pairs           int64       `json:"pairs"` // S·D·P per client host
	PerPair         int64       `json:"per_pair"`
	Capacity        int64       `json:"capacity"` // S·D·P·R per client host
	Fits            bool        `json:"fits"`
	UnderHalf       bool        `json:"under_half"`
	SourceIPsHere   int64       `json:"source_ips_for_this_range"`   // fewest S under half of this range
	SourceIPsWidest int64       `json:"source_ips_for_widest_range"` // … of 1024-65535
	SourceIPsUsed   int64       `json:"source_ips_used"`             // what the commands use
	NofileNeeded    int64       `json:"nofile_needed"`               // for one process holding all
	NofileHard      int64       `json:"nofile_hard,omitempty"`
	CanRaiseHard    bool        `json:"can_raise_hard"`
	ConnsPerProcess int64       `json:"conns_per_process,omitempty"`
	Hosts           []HostPlan  `json:"hosts"`
	Notes           []string    `json:"notes"`
}

// Plan does the capacity arithmetic: connections per client host and per
// (source IP, server ip:port) pair against the port range, descriptors and
// processes under the current RLIMIT_NOFILE, memory per host, and the
// `imtool tune` and `imtool swarm` commands for each host.
func Plan(o PlanOptions) (*PlanResult, error) {
	if o.Headroom == 0 {
		o.Headroom = DefaultHeadroom
	}
	if o.ClientHosts < 1 {
		return nil, fmt.Errorf("--client-hosts %d: must be ≥ 1", o.ClientHosts)
	}
	if o.Target == "" {
		o.Target = "127.0.0.1"
	}
	ip := net.ParseIP(o.Target)
	same := o.Target == "localhost" || (ip != nil && ip.IsLoopback())
	if same && o.ClientHosts > 1 {
		return nil, fmt.Errorf("--target %s is loopback, which puts the swarm on the server host: use --client-hosts 1 or give the server's address", o.Target)
	}
	perHost := int(ceilDiv(int64(o.Conns), int64(o.ClientHosts)))
	t := Target{Role: RoleClient, Conns: perHost, Ports: o.ServerPorts, SourceIPs: o.SourceIPs, ServerIPs: o.ServerIPs, Headroom: o.Headroom}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	fs := rootFS{dir: rootOrSlash(o.Root)}
	p := &PlanResult{Options: o, SameHost: same, PerClientHost: perHost, Pairs: t.pairs()}
	r, err := p.readRange(fs, o.PortRange)
	if err != nil {
		return nil, err
	}
	p.RangeLow, p.RangeHigh = r.lo, r.hi
	p.PerPair = ceilDiv(int64(perHost), t.pairs())
	p.Capacity = t.pairs() * r.size()
	p.Fits, p.UnderHalf = p.PerPair <= r.size(), 2*p.PerPair <= r.size()
	p.SourceIPsHere, p.SourceIPsWidest = minSourceIPs(t, r), minSourceIPs(t, widestRange)
	p.SourceIPsUsed = int64(o.SourceIPs)
	if !p.UnderHalf {
		p.SourceIPsUsed = max(p.SourceIPsUsed, p.SourceIPsWidest)
	}
	whole := t
	whole.Conns = o.Conns
	p.NofileNeeded = whole.nofile()
	p.readRlimit(fs, t)
	p.headline(r)
	p.hosts(t)
	p.advise(t, r)
	return p, nil
}

func (p *PlanResult) readRange(fs rootFS, spec string) (portRange, error) {
	if spec != "" {
		p.RangeFrom = "--port-range"
		r, err := parsePortRange(spec)
		if err != nil {
			return r, fmt.Errorf("--port-range: %w", err)
		}
		return r, nil
	}
	if r, err := host.ReadPortRange(fs.root()); err == nil {
		p.RangeFrom = "live"
		return portRange{r[0], r[1]}, nil
	}
	p.RangeFrom = "kernel default"
	return portRange{32768, 60999}, nil
}

func (p *PlanResult) readRlimit(fs rootFS, t Target) {
	lim, err := host.ReadNofile(fs.root())
	if err != nil {
		p.Notes = append(p.Notes, "RLIMIT_NOFILE unknown here ("+err.Error()+"): processes assume it is raised to "+fmt.Sprint(p.NofileNeeded))
		return
	}
	if lim.Hard < 0 {
		return
	}
	status, _ := fs.read("/proc/self/status")
	p.NofileHard, p.CanRaiseHard = lim.Hard, hasCap(status, capSysResource)
	p.ConnsPerProcess = t.connsPerProcess(lim.Hard)
}

// processes is how many processes hold n connections under the current limit.
func (p *PlanResult) processes(n int) int64 {
	if p.ConnsPerProcess <= 0 || p.NofileHard >= p.NofileNeeded {
		return 1
	}
	return ceilDiv(int64(n), p.ConnsPerProcess)
}

func (p *PlanResult) hosts(t Target) {
	o := p.Options
	ports := portspec.String(o.ServerPorts)
	swarm := fmt.Sprintf("imtool swarm --target %s --ports %s --conns %d%s --procs auto", o.Target, ports, p.PerClientHost, p.sourceFlag())
	client := fmt.Sprintf("imtool tune apply --conns %d --ports %s --source-ips %d --server-ips %d", p.PerClientHost, ports, p.SourceIPsUsed, o.ServerIPs)
	server := fmt.Sprintf("imtool tune apply --role server --conns %d --ports %s", o.Conns, ports)
	if p.SameHost {
		p.Hosts = []HostPlan{{Host: "this host (server and swarm)", Role: RoleBoth, Conns: o.Conns, Processes: p.processes(o.Conns),
			KernelBytes: 2 * int64(o.Conns) * KernelBytesPerSocket, UserBytes: int64(o.Conns) * (ServerBytesPerConn + SwarmBytesPerConn),
			Commands: []string{strings.Replace(client, "apply", "apply --role both", 1), swarm}}}
		return
	}
	p.Hosts = append(p.Hosts, HostPlan{Host: "server " + o.Target, Role: RoleServer, Conns: o.Conns, Processes: p.processes(o.Conns),
		KernelBytes: int64(o.Conns) * KernelBytesPerSocket, UserBytes: int64(o.Conns) * ServerBytesPerConn, Commands: []string{server}})
	for i := 1; i <= o.ClientHosts; i++ {
		p.Hosts = append(p.Hosts, HostPlan{Host: fmt.Sprintf("client %d of %d", i, o.ClientHosts), Role: RoleClient, Conns: p.PerClientHost,
			Processes: p.processes(p.PerClientHost), KernelBytes: int64(p.PerClientHost) * KernelBytesPerSocket,
			UserBytes: int64(p.PerClientHost) * SwarmBytesPerConn, Commands: []string{strings.Replace(client, "apply", "apply --role client", 1), swarm}})
	}
}

// sourceFlag names the source addresses: any 127.x.y.z works on loopback;
// elsewhere they are the client host's own addresses.
func (p *PlanResult) sourceFlag() string {
	s := p.SourceIPsUsed
	switch {
	case p.SameHost && s > 1:
		return " --source-ips " + loopbackRange(s)
	case s > 1:
		return fmt.Sprintf(" --source-ips ADDR1-ADDR%d", s)
	}
	return ""
}

// loopbackRange names n loopback addresses from 127.0.0.2 on.
func loopbackRange(n int64) string {
	last := n + 1
	return fmt.Sprintf("127.0.0.2-127.%d.%d.%d", last>>16&0xff, last>>8&0xff, last&0xff)
}

func (p *PlanResult) advise(t Target, r portRange) {
	half := r.size() / 2
	if !p.UnderHalf {
		p.Notes = append(p.Notes,
			fmt.Sprintf("%d per pair is over half the range (%d): connect() slows ~8× past half", p.PerPair, half),
			fmt.Sprintf("fix: keep %s and use %d source IPs per client host, or widen it with `imtool tune apply` (up to %s) and use %d",
				r, p.SourceIPsHere, widestRange, p.SourceIPsWidest))
	}
	if p.NofileHard > 0 && p.NofileHard < p.NofileNeeded {
		how := "raise it with `imtool tune apply` and log in again, or"
		if !p.CanRaiseHard {
			how = "it cannot be raised here (no CAP_SYS_RESOURCE), so"
		}
		p.Notes = append(p.Notes, fmt.Sprintf("one process holding all %d connections needs RLIMIT_NOFILE ≥ %d; the hard limit is %d: %s shard with --procs auto (≤ %d connections per process)",
			p.Options.Conns, p.NofileNeeded, p.NofileHard, how, p.ConnsPerProcess))
	}
	if p.SourceIPsUsed > 1 && !p.SameHost {
		p.Notes = append(p.Notes, "replace ADDR1-ADDRn with the client host's own addresses; the swarm binds them with IP_BIND_ADDRESS_NO_PORT")
	}
}

// headline works out NeededToFit and NeededUnderHalf for the range r and
// says them in the words of the question.
func (p *PlanResult) headline(r portRange) {
	o := p.Options
	n := int64(o.Conns)
	dests := int64(o.ServerIPs) * int64(len(o.ServerPorts)) // D·P
	perUnit := dests                                        // connections of one client host or source IP, per port of the range
	if !p.SameHost {
		perUnit *= int64(o.SourceIPs)
	}
	p.NeededToFit = ceilDiv(n, perUnit*r.size())
	p.NeededUnderHalf = ceilDiv(n, perUnit*(r.size()/2))
	what := fmt.Sprintf("client hosts (%s each)", plural(int64(o.SourceIPs), "source IP"))
	if p.SameHost {
		what = "source IPs on this host (or as many client hosts with one each, against a --target that is not loopback)"
	}
	p.Headline = fmt.Sprintf("%s connections to %s on %s, with ephemeral ports %s (%s ports), need %s %s to fit, and %s to keep every (source IP, server ip:port) pair under half the range, where connect() stays fast",
		stats.Thousands(n), plural(int64(len(o.ServerPorts)), "server port"), plural(int64(o.ServerIPs), "server IP"), r, stats.Thousands(r.size()),
		stats.Thousands(p.NeededToFit), what, stats.Thousands(p.NeededUnderHalf))
}

// plural is "1 port" or "2 ports".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return stats.Thousands(n) + " " + noun + "s"
}

// WriteJSON writes the plan as indented JSON.
func (p *PlanResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// WriteText writes the plan for a person.
func (p *PlanResult) WriteText(w io.Writer) error {
	o := p.Options
	r := portRange{p.RangeLow, p.RangeHigh}
	var b strings.Builder
	fmt.Fprintf(&b, "answer: %s\n\n", p.Headline)
	fmt.Fprintf(&b, "plan: %d connections to %d server port(s) (%s) on %d server IP(s), from %d client host(s) with %d source IP(s) each\n",
		o.Conns, len(o.ServerPorts), portspec.String(o.ServerPorts), o.ServerIPs, o.ClientHosts, o.SourceIPs)
	fmt.Fprintf(&b, "ephemeral port range %s (%s): R = %d ports, half = %d\n\n", r, p.RangeFrom, r.size(), r.size()/2)
	fmt.Fprintf(&b, "per client host: %d connections over S·D·P = %d·%d·%d = %d pairs → %d per pair\n",
		p.PerClientHost, o.SourceIPs, o.ServerIPs, len(o.ServerPorts), p.Pairs, p.PerPair)
	fmt.Fprintf(&b, "  capacity S·D·P·R = %d; fits the range: %s; under half the range: %s\n", p.Capacity, yesNo(p.Fits), yesNo(p.UnderHalf))
	fmt.Fprintf(&b, "descriptors: one process holding all %d connections needs RLIMIT_NOFILE ≥ %d (h·N + P + %d)", o.Conns, p.NofileNeeded, host.FDReserve)
	if p.NofileHard > 0 {
		fmt.Fprintf(&b, "; hard limit here %d → ≤ %d connections per process", p.NofileHard, p.ConnsPerProcess)
	}
	b.WriteString("\n\n")
	for _, h := range p.Hosts {
		fmt.Fprintf(&b, "%s: %d connections, %d process(es); memory ≈ %s kernel (4 KB per socket) + %s user\n",
			h.Host, h.Conns, h.Processes, bytesString(h.KernelBytes), bytesString(h.UserBytes))
		for _, c := range h.Commands {
			fmt.Fprintf(&b, "    %s\n", c)
		}
	}
	if len(p.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "• %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n/1024)
}
