package host

import (
	gohost "github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"
)

// fromGopsutil fills the kernel version and memory where this machine has
// no /proc to read them from (macOS, Windows).
func fromGopsutil(f *Facts) {
	if f.Kernel == "" {
		if k, err := gohost.KernelVersion(); err == nil {
			f.Kernel = k
		}
	}
	if f.MemTotal == 0 {
		if vm, err := mem.VirtualMemory(); err == nil {
			f.MemTotal, f.MemAvailable = int64(vm.Total), int64(vm.Available)
		}
	}
}
