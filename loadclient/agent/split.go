package agent

import (
	"fmt"
	"strings"

	"github.com/imtool/imtool/loadclient"
)

// KernelBytesPerConn is what one idle established client socket costs the
// kernel (tcp_sock, inode, file, dentry, epoll item: tuner.KernelBytesPerSocket),
// with the 10% headroom the feasibility check plans with.
const KernelBytesPerConn = 4096 * 11 / 10

// CheckMemory refuses conns connections on a host with avail bytes of
// memory available (0: unknown, not checked) when their kernel memory
// (KernelBytesPerConn each) does not fit. The coordinator checks every
// host with it (Split) and an agent checks its own slice with it, dry run
// or not.
func CheckMemory(conns int, avail int64) error {
	if need := int64(conns) * KernelBytesPerConn; avail > 0 && need > avail {
		return fmt.Errorf("%d connections need ≈ %d MiB of kernel memory (4 KiB each + 10%%); the host has %d MiB available: add agents or give fewer --conns",
			conns, need>>20, avail>>20)
	}
	return nil
}

// Assignment is one agent's slice of a swarm.
type Assignment struct {
	Agent string // host:port as given, the host's id in snapshots
	Info  Info
	// First is the global index of the slice's first connection: its uids
	// are o.UIDBase+First and up.
	First int
	// Options are the slice as the agent runs it: its connections, its
	// share of the rates, its uid range and its own source IPs. Hold is 0:
	// the coordinator times the hold for every host together.
	Options loadclient.Options
	// Plan is the slice planned with the agent's own port range,
	// RLIMIT_NOFILE and source IPs.
	Plan *loadclient.Plan
}

// Split divides o evenly over the agents (the first ones get one more when
// the connections do not divide) and checks every host before anything
// starts: its plan (source IPs × destinations × its port range, its fd
// limit) and its memory. An impossible host returns a *loadclient.PlanError
// naming the host and the fix.
func Split(o loadclient.Options, infos []Info, agents []string) ([]Assignment, error) {
	if len(agents) == 0 || len(agents) != len(infos) {
		return nil, fmt.Errorf("agent.Split: %d agents, %d infos", len(agents), len(infos))
	}
	if len(o.SourceIPs) > 0 {
		return nil, &loadclient.PlanError{Msg: "--source-ips names addresses of this host, but with --agents every agent dials from its own: start each agent with its --source-ips instead"}
	}
	n := len(agents)
	if o.Conns < n {
		return nil, &loadclient.PlanError{Msg: fmt.Sprintf("--conns %d is fewer than the %d agents: give at least one connection per agent", o.Conns, n)}
	}
	var out []Assignment
	var problems []string
	first := 0
	for i, addr := range agents {
		in := infos[i]
		count := o.Conns / n
		if i < o.Conns%n {
			count++
		}
		share := float64(count) / float64(o.Conns)
		s := o
		s.Conns = count
		s.UIDBase = o.UIDBase + uint64(first)
		s.Rate = o.Rate * share
		s.MsgRate = o.MsgRate * share
		s.MaxInflight = max(1, int(float64(o.MaxInflight)*share))
		s.SourceIPs = in.SourceIPs
		s.Hold = 0
		s.Shard = loadclient.Shard{}
		a := Assignment{Agent: addr, Info: in, First: first, Options: s}
		first += count
		plan, err := loadclient.NewPlan(s, in.Environment)
		if err != nil {
			problems = append(problems, fmt.Sprintf("agent %s (%s): %v", addr, in.Hostname, err))
			continue
		}
		a.Plan = plan
		if err := CheckMemory(count, in.Environment.MemAvailable); err != nil {
			problems = append(problems, fmt.Sprintf("agent %s (%s): %v", addr, in.Hostname, err))
		}
		out = append(out, a)
	}
	if len(problems) > 0 {
		return nil, &loadclient.PlanError{Msg: "the plan cannot work on every agent; nothing was started:\n  " + strings.Join(problems, "\n  ")}
	}
	return out, nil
}

// Combined is the plan of the whole swarm over its agents, for the person
// and the run record: connections, capacity, pairs and processes add up,
// and each host's own plan is a note.
func Combined(as []Assignment) *loadclient.Plan {
	p := &loadclient.Plan{}
	seen := map[string]bool{}
	for i, a := range as {
		ap := a.Plan
		if i == 0 {
			p.Targets, p.Dests = ap.Targets, ap.Dests
		}
		p.Conns += ap.Conns
		p.Capacity += ap.Capacity
		p.Pairs += ap.Pairs
		p.PerPair = max(p.PerPair, ap.PerPair)
		p.Procs += ap.Procs
		for _, s := range ap.Sources {
			if !seen[s.String()] {
				seen[s.String()] = true
				p.Sources = append(p.Sources, s)
			}
		}
		line, _, _ := strings.Cut(ap.Describe(), "\n")
		p.Notes = append(p.Notes, fmt.Sprintf("agent %s (%s): uids %d-%d; %s",
			a.Agent, a.Info.Hostname, a.Options.UIDBase, a.Options.UIDBase+uint64(ap.Conns)-1, line))
		for _, n := range ap.Notes {
			p.Notes = append(p.Notes, "agent "+a.Agent+": "+n)
		}
		for _, w := range ap.Warnings {
			p.Warnings = append(p.Warnings, "agent "+a.Agent+": "+w)
		}
	}
	return p
}
