package stats

import (
	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/mem"
)

// ReadHost reads machine-wide memory, CPU (since the previous call) and
// kernel TCP socket counts. What cannot be read stays 0.
func ReadHost() Host {
	var h Host
	if vm, err := mem.VirtualMemory(); err == nil {
		h.MemAvailable = int64(vm.Available)
	}
	if pct, err := cpu.Percent(0, false); err == nil && len(pct) == 1 {
		h.CPUPercent = pct[0]
	}
	readSockstat(&h)
	return h
}
