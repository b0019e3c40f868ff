package host

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Facts are what imtool knows about a host: what plans are made with (the
// port range, the fd limit, CPUs) and what a run record keeps. What cannot
// be read stays zero. The JSON names are those of the run record's
// environment.
type Facts struct {
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	Kernel       string `json:"kernel"`
	CPUs         int    `json:"cpus"`
	MemTotal     int64  `json:"mem_total_bytes"`
	MemAvailable int64  `json:"mem_available_bytes"`
	NofileSoft   int64  `json:"nofile_soft"`
	NofileHard   int64  `json:"nofile_hard"`
	// PortRange is net.ipv4.ip_local_port_range; zero when unknown.
	PortRange [2]int `json:"port_range"`
	GoVersion string `json:"go_version"`
}

// Nofile is the fd limit a process of this host may reach: the hard limit
// (Go raises the soft one to it at start); 0 when unknown or unlimited.
func (f Facts) Nofile() int64 { return max(f.NofileHard, 0) }

// Read reads the facts under root. OS, architecture, CPUs (those this
// process may run on) and Go version are this process's own; the rest come
// from root's /proc, or from the kernel when root is this machine and has
// no /proc.
func Read(root Root) Facts {
	f := Facts{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if lim, err := ReadNofile(root); err == nil {
		f.NofileSoft, f.NofileHard = lim.Soft, lim.Hard
	}
	f.PortRange, _ = ReadPortRange(root)
	if s, err := root.Read("/proc/sys/kernel/hostname"); err == nil {
		f.Hostname = strings.TrimSpace(s)
	} else if root.machine() {
		f.Hostname, _ = os.Hostname()
	}
	if s, err := root.Read("/proc/sys/kernel/osrelease"); err == nil {
		f.Kernel = strings.TrimSpace(s)
	}
	if s, err := root.Read("/proc/meminfo"); err == nil {
		f.MemTotal, f.MemAvailable = parseMeminfo(s)
	}
	if root.machine() && (f.Kernel == "" || f.MemTotal == 0) {
		fromGopsutil(&f)
	}
	return f
}

// parseMeminfo reads MemTotal and MemAvailable (kB) from /proc/meminfo.
func parseMeminfo(s string) (total, avail int64) {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = v << 10
		case "MemAvailable:":
			avail = v << 10
		}
	}
	return total, avail
}
