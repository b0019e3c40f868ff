// Package portspec reads the --ports flag the same way for every command:
// a count from a base port ("20" with base 9000 means 9000-9019), a range
// ("9000-9019") or a comma-separated list of ports and ranges
// ("9000,9005,9100-9102"). A bare number that cannot be a count (above
// MaxPorts) is the one port it names: "9000" is port 9000.
package portspec

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxPorts bounds how many ports one spec may name, so a typo such as
// "1-65535" as a count does not allocate or listen on the whole range by
// accident. A bare number above it is a single port.
const MaxPorts = 4096

// Usage describes the forms a spec takes, for flag help.
const Usage = "a count from the base port (20 = 9000-9019), one port above 4096 (9000), a range (9000-9019) or a list (9000,9005,9100-9102)"

// Parse turns spec into a sorted list of distinct ports. A bare number up to
// MaxPorts is a count of ports starting at base, a larger one is that single
// port; anything with '-' or ',' names ports. Errors do not name the flag:
// ParseFlag does.
func Parse(spec string, base int) ([]uint16, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("is empty: give a count (20), a port (9000), a range (9000-9019) or a list (9000,9005)")
	}
	if !strings.ContainsAny(spec, ",-") {
		n, err := strconv.Atoi(spec)
		switch {
		case err != nil || n < 1:
			return nil, fmt.Errorf("%q: give a count (20), a port (9000), a range (9000-9019) or a list (9000,9005)", spec)
		case n > 65535:
			return nil, fmt.Errorf("%d is neither a count of ports (at most %d) nor a port (1-65535)", n, MaxPorts)
		case n > MaxPorts:
			return []uint16{uint16(n)}, nil
		}
		if base < 1 || base+n-1 > 65535 {
			return nil, fmt.Errorf("%d ports from the base port (%d) go past 65535: lower the base port", n, base)
		}
		out := make([]uint16, n)
		for i := range out {
			out[i] = uint16(base + i)
		}
		return out, nil
	}
	seen := map[int]bool{}
	var out []uint16
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, err := parseRange(part)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", spec, err)
		}
		for p := lo; p <= hi; p++ {
			if seen[p] {
				continue
			}
			seen[p] = true
			if len(out) == MaxPorts {
				return nil, fmt.Errorf("%q: at most %d ports", spec, MaxPorts)
			}
			out = append(out, uint16(p))
		}
	}
	sortPorts(out)
	return out, nil
}

// ParseFlag is Parse for the flag named flag whose count starts at the flag
// baseFlag: its errors name both, as the person typed them.
func ParseFlag(flag, spec, baseFlag string, base int) ([]uint16, error) {
	p, err := Parse(spec, base)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "the base port", "--"+baseFlag)
		return nil, fmt.Errorf("--%s %s", flag, msg)
	}
	return p, nil
}

func parseRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePort(b); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q runs backwards: write %d-%d", s, hi, lo)
	}
	return lo, hi, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return p, nil
}

func sortPorts(p []uint16) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j] < p[j-1]; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// String renders ports compactly, joining runs into ranges: "9000-9019,9100".
// It reads back the same with Parse: one port up to MaxPorts, which alone
// would read as a count, is written as a range ("443-443").
func String(ports []uint16) string {
	if len(ports) == 1 && ports[0] <= MaxPorts {
		return fmt.Sprintf("%d-%d", ports[0], ports[0])
	}
	var b strings.Builder
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j == i {
			fmt.Fprintf(&b, "%d", ports[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", ports[i], ports[j])
		}
		i = j + 1
	}
	return b.String()
}
