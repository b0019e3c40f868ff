package tuner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/imtool/imtool/internal/portspec"
)

const reservedPortsKey = "net.ipv4.ip_local_reserved_ports"

// parsePortList reads the kernel's list syntax, "9000-9019,9100" ("" is
// empty), into a sorted list of distinct ports.
func parsePortList(s string) ([]uint16, error) {
	var in [65536]bool
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		a, b, isRange := strings.Cut(part, "-")
		if !isRange {
			b = a
		}
		lo, err1 := strconv.Atoi(strings.TrimSpace(a))
		hi, err2 := strconv.Atoi(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || lo < 0 || hi > 65535 || hi < lo {
			return nil, fmt.Errorf("%q is not a port list", s)
		}
		for p := lo; p <= hi; p++ {
			in[p] = true
		}
	}
	var out []uint16
	for p, ok := range in {
		if ok {
			out = append(out, uint16(p))
		}
	}
	return out, nil
}

// reservedRow checks that the server's listening ports that fall inside the
// ephemeral range r (widened by apply when widened is set) are reserved,
// so no outgoing connection takes them.
func (l *linux) reservedRow(t Target, r portRange, widened bool) Row {
	row := l.newRow(reservedPortsKey, ScopeNetns, NeedsNothing)
	var inside []uint16
	for _, p := range t.Ports {
		if r.has(int(p)) {
			inside = append(inside, p)
		}
	}
	live, err := l.readSysctl(reservedPortsKey)
	if err != nil {
		row.Status, row.Reason = StatusMissing, fmt.Sprintf("cannot read %s: %v", reservedPortsKey, err)
		return row
	}
	row.Live = live
	cur, err := parsePortList(live)
	if err != nil {
		row.Status, row.Reason = StatusMissing, err.Error()
		return row
	}
	rangeName := "the ephemeral range " + r.String()
	if widened {
		rangeName += " that apply sets"
	}
	if len(inside) == 0 {
		row.Required, row.Status = "— (server ports outside the range)", StatusOK
		row.Reason = fmt.Sprintf("server ports %s lie outside %s", portspec.String(t.Ports), rangeName)
		return row
	}
	row.Required = "⊇ " + portspec.String(inside)
	why := fmt.Sprintf("server ports %s lie inside %s: reserve them so no outgoing connection takes one", portspec.String(inside), rangeName)
	if missing := minus(inside, cur); len(missing) > 0 {
		return l.short(row, &fix{key: reservedPortsKey, value: portspec.String(union(cur, inside))}, why)
	}
	if boot, err := parsePortList(row.Persisted); err == nil && row.Source != "" && len(minus(inside, boot)) > 0 {
		return l.short(row, &fix{key: reservedPortsKey, value: portspec.String(cur)}, bootLow(row))
	}
	row.Status, row.Reason = StatusOK, why
	return row
}

// minus returns the ports of a that are not in b; both are sorted.
func minus(a, b []uint16) []uint16 {
	in := map[uint16]bool{}
	for _, p := range b {
		in[p] = true
	}
	var out []uint16
	for _, p := range a {
		if !in[p] {
			out = append(out, p)
		}
	}
	return out
}

func union(a, b []uint16) []uint16 {
	out, _ := parsePortList(portspec.String(a) + "," + portspec.String(b))
	return out
}
