package tuner

import (
	"fmt"

	"github.com/imtool/imtool/internal/host"
)

const portRangeKey = "net.ipv4.ip_local_port_range"

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi int }

func (r portRange) size() int64    { return int64(r.hi - r.lo + 1) }
func (r portRange) String() string { return fmt.Sprintf("%d-%d", r.lo, r.hi) }
func (r portRange) sysctl() string { return fmt.Sprintf("%d %d", r.lo, r.hi) }
func (r portRange) has(p int) bool { return p >= r.lo && p <= r.hi }

func parsePortRange(s string) (portRange, error) {
	r, err := host.ParsePortRange(s)
	return portRange{r[0], r[1]}, err
}

// widen returns the smallest change to r that holds need ports: it keeps
// the top, lowers the bottom no further than 1024, raises the top only when
// it must, and gives the ends different parity as the kernel documentation
// advises. The result may still be short when need exceeds 1024-65535.
func (r portRange) widen(need int64) portRange {
	if r.size() >= need {
		return r
	}
	w := portRange{lo: r.hi - int(need) + 1, hi: r.hi}
	if w.lo < 1024 {
		w.lo = 1024
		w.hi = max(r.hi, min(65535, 1024+int(need)-1))
	}
	if (w.lo+w.hi)%2 == 0 {
		switch {
		case w.lo > 1024:
			w.lo--
		case w.hi < 65535:
			w.hi++
		default:
			w.lo++
		}
	}
	return w
}

// portRangeRow checks the client's ephemeral range: every (source IP,
// destination ip:port) pair must stay under half of it, because connect()
// slows about 8× once half the range is in use.
func (l *linux) portRangeRow(t Target) (Row, portRange) {
	row := l.newRow(portRangeKey, ScopeNetns, NeedsNothing)
	need := t.rangeNeeded()
	row.Required = fmt.Sprintf("≥ %d ports, low ≥ 1024", need)
	live, err := l.readSysctl(portRangeKey)
	if err != nil {
		row.Status, row.Reason = StatusMissing, fmt.Sprintf("cannot read %s: %v", portRangeKey, err)
		return row, portRange{}
	}
	row.Live = live
	cur, err := parsePortRange(live)
	if err != nil {
		row.Status, row.Reason = StatusMissing, err.Error()
		return row, portRange{}
	}
	perPair := ceilDiv(int64(t.Conns), t.pairs())
	why := fmt.Sprintf("%d connections per (source IP × server ip:port) pair must stay under half the range", perPair)
	if cur.size() < need {
		w := cur.widen(need)
		if w.size() < need {
			why += fmt.Sprintf("; even %s is too small: add source IPs (--source-ips ≥ %d) or server ports", w, minSourceIPs(t, w))
		}
		return l.short(row, &fix{key: portRangeKey, value: w.sysctl()}, why), w
	}
	if p, err := parsePortRange(row.Persisted); err == nil && p.size() < need {
		return l.short(row, &fix{key: portRangeKey, value: cur.sysctl()}, bootLow(row)), cur
	}
	row.Status, row.Reason = StatusOK, why
	return row, cur
}

// minSourceIPs is the fewest source IPs that keep every pair under half of r.
func minSourceIPs(t Target, r portRange) int64 {
	perIP := int64(t.ServerIPs) * int64(len(t.Ports)) * (r.size() / 2)
	return ceilDiv(int64(t.Conns), perIP)
}
