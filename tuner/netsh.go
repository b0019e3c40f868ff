package tuner

import (
	"fmt"
	"strconv"
	"strings"
)

// parseDynamicPort reads `netsh int ipv4 show dynamicport tcp`. Labels are
// localized ("Start Port", "Port de démarrage"), so it takes the numbers
// that end lines, by position: the start port, then the number of ports.
func parseDynamicPort(out string) (portRange, error) {
	var nums []int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
			nums = append(nums, n)
		}
	}
	if len(nums) != 2 || nums[0] < 1 || nums[1] < 1 || nums[0]+nums[1]-1 > 65535 {
		return portRange{}, fmt.Errorf("cannot read the dynamic port range from netsh output %q", out)
	}
	return portRange{lo: nums[0], hi: nums[0] + nums[1] - 1}, nil
}

// parseExcludedPorts reads `netsh interface ipv4 show excludedportrange
// protocol=tcp`: rows of two numbers (start, end), optionally followed by
// "*" for administered exclusions.
func parseExcludedPorts(out string) []portRange {
	var rs []portRange
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 || (len(f) == 3 && f[2] != "*") {
			continue
		}
		lo, err1 := strconv.Atoi(f[0])
		hi, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && lo <= hi {
			rs = append(rs, portRange{lo, hi})
		}
	}
	return rs
}

// usable is how many ports of r no exclusion takes.
func usable(r portRange, excluded []portRange) int64 {
	n := r.size()
	for _, e := range excluded {
		lo, hi := max(r.lo, e.lo), min(r.hi, e.hi)
		if lo <= hi {
			n -= int64(hi - lo + 1)
		}
	}
	return n
}

// widenDynamic grows the dynamic range downwards from 65535, never past
// start=1025 (the largest range netsh accepts), until need ports are usable
// after the exclusions. It never shrinks r.
func widenDynamic(r portRange, need int64, excluded []portRange) portRange {
	w := portRange{lo: min(r.lo, 65536-int(min(need, 64511))), hi: 65535}
	for w.lo > 1025 && usable(w, excluded) < need {
		w.lo--
	}
	return w
}

// dynamicPortArgs is the netsh command that sets r for ipVer ("ipv4"/"ipv6").
func dynamicPortArgs(ipVer string, r portRange) []string {
	return []string{"int", ipVer, "set", "dynamicport", "tcp", "start=" + strconv.Itoa(r.lo), "num=" + strconv.FormatInt(r.size(), 10)}
}
