package tuner

import (
	"os"
	"strings"
)

// environment is what the Linux back end learns about where it runs.
type environment struct {
	procSysRO  bool // /proc/sys mounted read-only (a container)
	childNetns bool // not the host's network namespace
	conntrack  bool // nf_conntrack is loaded
}

func probeEnvironment(fs rootFS) environment {
	mountinfo, _ := fs.read("/proc/self/mountinfo")
	return environment{
		procSysRO:  procSysReadOnly(mountinfo),
		childNetns: childNetns(fs),
		conntrack:  fs.exists(sysctlPath(conntrackMax)),
	}
}

// procSysReadOnly reads /proc/self/mountinfo: the mount that holds
// /proc/sys (itself, or /proc) decides, and "ro" among its options means
// no sysctl can be written from here.
func procSysReadOnly(mountinfo string) bool {
	best, ro := "", false
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		mp := f[4]
		if (mp == "/proc/sys" || mp == "/proc") && len(mp) > len(best) {
			best = mp
			ro = hasOption(f[5], "ro")
		}
	}
	return ro
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// childNetns tells a child network namespace from the host's: either this
// process's namespace differs from pid 1's (ip netns exec), or
// nf_conntrack_max exists but is read-only by mode, which the kernel does
// outside the initial namespace (containers).
func childNetns(fs rootFS) bool {
	self, err1 := os.Readlink(fs.path("/proc/self/ns/net"))
	init, err2 := os.Readlink(fs.path("/proc/1/ns/net"))
	if err1 == nil && err2 == nil && self != init {
		return true
	}
	st, err := os.Stat(fs.path(sysctlPath(conntrackMax)))
	return err == nil && st.Mode().Perm()&0o200 == 0
}
