package bench

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/tuner"
)

// Preflight refuses, before anything starts, a run this host cannot do:
// too little memory for the estimate, or host-wide fd and epoll limits below
// what both ends of every connection need. Every path is read under root
// ("/" on a real host), so tests use fake trees. The error says why and
// what to do.
func Preflight(root string, conns int, ports []uint16) error {
	if root == "" {
		root = "/"
	}
	plan, err := tuner.Plan(tuner.PlanOptions{Root: root, Conns: conns, ServerPorts: ports, ServerIPs: 1, SourceIPs: 1, ClientHosts: 1, Target: "127.0.0.1"})
	if err != nil {
		return fmt.Errorf("cannot plan %d connections: %w", conns, err)
	}
	var problems []string
	need := int64(0)
	for _, h := range plan.Hosts {
		need += h.KernelBytes + h.UserBytes
	}
	need = need * 11 / 10 // the same 10% headroom as every other requirement
	avail, err := memAvailable(root)
	if err != nil {
		return err
	}
	if need > avail {
		fits := int64(conns) * avail / need
		problems = append(problems, fmt.Sprintf("memory: %d connections need ≈ %s (≈ 8 KB of kernel memory each with both ends on this host, plus user space), and only %s is available: use --conns %d or less, or free memory",
			conns, gib(need), gib(avail), fits/1000*1000))
	}
	report, err := tuner.Check(tuner.Options{Root: root, Target: tuner.Target{
		Role: tuner.RoleBoth, Conns: conns, Ports: ports, SourceIPs: int(plan.SourceIPsUsed), ServerIPs: 1, Headroom: tuner.DefaultHeadroom,
	}})
	if err != nil {
		return fmt.Errorf("cannot check this host's limits: %w", err)
	}
	for _, r := range report.Rows {
		switch r.Name {
		case "fs.file-max", "fs.epoll.max_user_watches":
		case "fs.nr_open":
			// Shards stay under RLIMIT_NOFILE, so nr_open only matters below it.
			if n, err := strconv.ParseInt(r.Live, 10, 64); err == nil && n >= plan.NofileHard {
				continue
			}
		default:
			continue
		}
		if r.Status != tuner.StatusOK && r.Status != tuner.StatusUnsupported {
			problems = append(problems, fmt.Sprintf("%s is %s, needs %s (%s): raise it with `imtool tune apply --role both --conns %d` or `sysctl -w %s=…`",
				r.Name, r.Live, r.Required, r.Status, conns, r.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("this host cannot hold %d connections with both ends on it:\n  - %s", conns, strings.Join(problems, "\n  - "))
	}
	return nil
}

func memAvailable(root string) (int64, error) {
	if avail := host.Read(host.Root(root)).MemAvailable; avail > 0 {
		return avail, nil
	}
	return 0, fmt.Errorf("cannot read available memory: no MemAvailable in %s", host.Root(root).Path("/proc/meminfo"))
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
