package runner

import (
	"fmt"
	"os"
	"runtime"

	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/tuner"
)

// readEnvironment describes this host for the run record. What cannot be
// read stays zero.
func readEnvironment(env loadclient.Env) stats.Environment {
	e := stats.Environment{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		PortRange: env.PortRange, GoVersion: runtime.Version()}
	e.Hostname, _ = os.Hostname()
	if k, err := host.KernelVersion(); err == nil {
		e.Kernel = k
	}
	if vm, err := mem.VirtualMemory(); err == nil {
		e.MemTotal, e.MemAvailable = int64(vm.Total), int64(vm.Available)
	}
	e.NofileSoft, e.NofileHard = nofile()
	return e
}

// tuneCheck is `imtool tune check` for the run, one line per setting, for
// the record's environment: the swarm's side of the host (both ends for a
// bench, whose gateway runs here too). Nothing when the check cannot run
// here.
func tuneCheck(o Options, p *loadclient.Plan) []string {
	role := tuner.RoleClient
	if o.Command == "bench" {
		role = tuner.RoleBoth
	}
	t := tuner.Target{Role: role, Conns: p.Conns, Ports: o.Swarm.Ports, SourceIPs: max(len(p.Sources), 1),
		ServerIPs: 1, Headroom: tuner.DefaultHeadroom}
	rep, err := tuner.Check(tuner.Options{Root: "/", Target: t})
	if err != nil {
		return nil
	}
	lines := make([]string, 0, len(rep.Rows))
	for _, r := range rep.Rows {
		lines = append(lines, fmt.Sprintf("%s (%s): %s, required %s: %s", r.Name, r.Scope, r.Live, r.Required, r.Status))
	}
	return lines
}
