package host

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRangeSysctl is the file of net.ipv4.ip_local_port_range.
const PortRangeSysctl = "/proc/sys/net/ipv4/ip_local_port_range"

// ReadPortRange is the local port range under root.
func ReadPortRange(root Root) ([2]int, error) {
	s, err := root.Read(PortRangeSysctl)
	if err != nil {
		return [2]int{}, fmt.Errorf("cannot read the local port range: %w", err)
	}
	return ParsePortRange(s)
}

// ParsePortRange reads a port range as the kernel writes it ("32768\t60999")
// or as a person does ("32768-60999").
func ParsePortRange(s string) ([2]int, error) {
	f := strings.Fields(strings.ReplaceAll(s, "-", " "))
	if len(f) != 2 {
		return [2]int{}, fmt.Errorf("%q is not a port range (LOW HIGH)", strings.TrimSpace(s))
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
		return [2]int{}, fmt.Errorf("%q is not a port range (LOW HIGH within 1-65535)", strings.TrimSpace(s))
	}
	return [2]int{lo, hi}, nil
}
