package runner

import (
	"os"
	"runtime"

	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
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
