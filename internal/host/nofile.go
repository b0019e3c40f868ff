package host

import (
	"fmt"
	"strconv"
	"strings"
)

// Rlimit is a soft/hard RLIMIT_NOFILE pair; -1 stands for unlimited.
type Rlimit struct{ Soft, Hard int64 }

// ProcLimits is where Linux shows a process's limits.
const ProcLimits = "/proc/self/limits"

// ReadNofile is the RLIMIT_NOFILE of this process: the "Max open files"
// line of /proc/self/limits under root, or, on this machine without that
// file (outside Linux), getrlimit. Go raises the soft limit to the hard one
// at start, so both are usually equal by the time this runs.
func ReadNofile(root Root) (Rlimit, error) {
	text, err := root.Read(ProcLimits)
	if err != nil {
		if root.machine() {
			return ProcessNofile()
		}
		return Rlimit{}, fmt.Errorf("cannot read RLIMIT_NOFILE: %w", err)
	}
	return ParseProcLimits(text)
}

// ParseProcLimits reads the "Max open files" line of /proc/<pid>/limits.
func ParseProcLimits(text string) (Rlimit, error) {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			break
		}
		soft, err1 := ParseLimit(f[0])
		hard, err2 := ParseLimit(f[1])
		if err1 != nil || err2 != nil {
			break
		}
		return Rlimit{soft, hard}, nil
	}
	return Rlimit{}, fmt.Errorf("no readable \"Max open files\" line")
}

// ParseLimit reads one limit as /proc and limits.conf write it: a number,
// or "unlimited"/"infinity" (-1).
func ParseLimit(s string) (int64, error) {
	if s == "unlimited" || s == "infinity" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// fromKernel turns getrlimit's values into an Rlimit (RLIM_INFINITY is -1).
func fromKernel(cur, max uint64) Rlimit {
	conv := func(v uint64) int64 {
		if v > 1<<62 {
			return -1
		}
		return int64(v)
	}
	return Rlimit{conv(cur), conv(max)}
}
