package tuner

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

const conntrackMax = "net.netfilter.nf_conntrack_max"

// minSysctl is a sysctl that must be at least a number computed from the
// target.
type minSysctl struct {
	key      string
	scope    Scope
	needs    string // what a change needs to take effect
	applies  func(Target) bool
	need     func(Target) int64
	why      string // what the value protects, for the reason line
	hostOnly bool   // only visible in the host's network namespace
}

func always(Target) bool { return true }

// minSysctls is the catalog of "at least" sysctls, in the order apply
// writes them: fs.nr_open first, since a descriptor limit above it fails.
var minSysctls = []minSysctl{
	{key: "fs.nr_open", scope: ScopeHost, needs: NeedsNothing, applies: always,
		need: Target.nofile, why: "caps RLIMIT_NOFILE: a hard limit above it fails with EPERM"},
	{key: "fs.file-max", scope: ScopeHost, needs: NeedsNothing, applies: always,
		need: func(t Target) int64 { return t.ends() * t.withHeadroom() },
		why:  "every socket is a file; both ends count when they share the host"},
	{key: "fs.epoll.max_user_watches", scope: ScopeHost, needs: NeedsNothing, applies: always,
		need: func(t Target) int64 { return t.ends() * t.withHeadroom() },
		why:  "one epoll watch per socket, counted per user"},
	{key: "net.core.somaxconn", scope: ScopeNetns, needs: NeedsNewProcess, applies: Target.serves,
		need: listenBurst, why: "caps each listen backlog: a connect burst beyond it is dropped and retried after 1 s"},
	{key: "net.ipv4.tcp_max_syn_backlog", scope: ScopeNetns, needs: NeedsNewProcess, applies: Target.serves,
		need: listenBurst, why: "half-open connections queued during a connect burst"},
	{key: "net.core.netdev_max_backlog", scope: ScopeHost, needs: NeedsNothing, applies: always, hostOnly: true,
		need: packetBurst, why: "each CPU's queue of packets received before the stack takes them (loopback too): a burst beyond it is dropped (softnet_stat) and retransmitted"},
	{key: conntrackMax, scope: ScopeHost, needs: NeedsNothing, applies: always,
		need: Target.withHeadroom, why: "a full conntrack table drops new connections"},
	{key: "net.ipv4.tcp_max_orphans", scope: ScopeHost, needs: NeedsNothing, applies: always, hostOnly: true,
		need: func(t Target) int64 { return int64(t.Conns) }, why: "a mass disconnect orphans every socket at once"},
	{key: "net.ipv4.tcp_max_tw_buckets", scope: ScopeNetns, needs: NeedsNothing, applies: always,
		need: func(t Target) int64 { return int64(t.Conns) }, why: "a mass disconnect puts every socket in TIME_WAIT"},
}

// listenBurst is the connect burst a listener must absorb: all of the
// connections, up to the 65535 a backlog is usually capped at.
func listenBurst(t Target) int64 { return min(t.withHeadroom(), 65535) }

// packetBurst is the per-CPU backlog a host with the target's connections
// needs: a sixteenth of them arriving at once (a grid point's heartbeats,
// a reconnect storm), between the kernel's default 1,000 and 65,536.
func packetBurst(t Target) int64 { return min(max(t.withHeadroom()/16, 1000), 65536) }

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

// readSysctl returns a live value with its whitespace normalised.
func (l *linux) readSysctl(key string) (string, error) {
	s, err := l.fs.read(sysctlPath(key))
	return strings.Join(strings.Fields(s), " "), err
}

// newRow starts a row for a sysctl with its persisted value filled in.
func (l *linux) newRow(key string, scope Scope, needs string) Row {
	row := Row{Name: key, Scope: scope, Needs: needs}
	if p, ok := l.boot[key]; ok {
		row.Persisted, row.Source = p.value, p.file
	}
	return row
}

func (l *linux) minRow(s minSysctl, t Target) Row {
	need := s.need(t)
	row := l.newRow(s.key, s.scope, s.needs)
	row.Required = "≥ " + strconv.FormatInt(need, 10)
	live, err := l.readSysctl(s.key)
	if err != nil {
		return l.absent(row, s, err)
	}
	row.Live = live
	v, err := strconv.ParseInt(live, 10, 64)
	if err != nil {
		row.Status, row.Reason = StatusMissing, fmt.Sprintf("cannot read %s: %q is not a number", s.key, live)
		return row
	}
	if v < need {
		return l.short(row, &fix{key: s.key, value: strconv.FormatInt(need, 10)}, s.why)
	}
	if p, err := strconv.ParseInt(row.Persisted, 10, 64); err == nil && p < need {
		return l.short(row, &fix{key: s.key, value: live}, bootLow(row))
	}
	row.Status, row.Needs, row.Reason = StatusOK, NeedsNothing, s.why
	return row
}

func (l *linux) absent(row Row, s minSysctl, err error) Row {
	switch {
	case s.key == conntrackMax && os.IsNotExist(err):
		row.Required, row.Status = "— (conntrack not loaded)", StatusOK
		row.Reason = "conntrack is not loaded, so there is no table to fill; run check again if a firewall loads it"
	case s.hostOnly && l.env.childNetns && os.IsNotExist(err):
		row.Status = StatusUnsupported
		row.Reason = "host-wide and not visible from a child network namespace: check it on the host"
	default:
		row.Status = StatusMissing
		row.Reason = fmt.Sprintf("cannot read %s: %v", s.key, err)
	}
	return row
}

// bootLow explains a live value that is fine now but lost at boot.
func bootLow(row Row) string {
	return fmt.Sprintf("live value is enough, but %s sets %s at boot", row.Source, row.Persisted)
}

// short marks a row that falls short: low when apply can fix it here,
// read-only (with the way out) when it cannot.
func (l *linux) short(row Row, f *fix, why string) Row {
	row.Reason = why
	switch {
	case l.env.procSysRO:
		row.Status = StatusReadOnly
		row.Reason = fmt.Sprintf("cannot raise %s: /proc/sys is read-only (container?): use docker --sysctl or run on the host", row.Name)
	case row.Name == conntrackMax && l.env.childNetns:
		row.Status = StatusReadOnly
		row.Reason = fmt.Sprintf("cannot raise %s from a child network namespace: set it on the host", row.Name)
	default:
		row.Status, row.fix = StatusLow, f
	}
	return row
}
