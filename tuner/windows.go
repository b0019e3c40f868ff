package tuner

import (
	"fmt"
	"strconv"
	"strings"
)

// winHost is what the Windows back end needs from Windows: netsh and the
// Tcpip\Parameters registry key. The real one lives in winhost_windows.go;
// tests use a fake.
type winHost interface {
	netsh(args ...string) (string, error)
	regGet(name string) (value uint32, present bool, err error)
	regSet(name string, value uint32) error
	regDelete(name string) error
}

// legacyValue is a pre-Vista value under
// HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters.
type legacyValue struct {
	name string
	want func(Target) int64
	why  string
}

var legacyValues = []legacyValue{
	{"MaxUserPort", func(Target) int64 { return 65534 }, "upper end of the ephemeral range before Vista; today's Windows uses the netsh dynamic range and ignores it"},
	{"TcpNumConnections", func(Target) int64 { return 0xfffffe }, "pre-Vista cap on TCP connections; the current stack does not read it"},
	{"MaxFreeTcbs", Target.withHeadroom, "Windows 2000/2003 preallocated TCBs; ignored since Vista"},
	{"MaxHashTableSize", func(Target) int64 { return 65536 }, "Windows 2000/2003 TCB hash table size; ignored since Vista"},
}

const regPrefix = "reg:"

// windows is the Windows back end. Its only file is the snapshot, under
// %ProgramData%\imtool.
type windows struct {
	host winHost
	fs   rootFS
}

func (w *windows) snapshotPath() string { return "/imtool/tune-backup.json" }
func (w *windows) files() rootFS        { return w.fs }

func (w *windows) check(o Options) (*Report, error) {
	t := o.Target
	rep := &Report{Root: w.fs.dir, Target: t, Facts: Facts{OS: "windows"}}
	for _, ip := range []string{"ipv4", "ipv6"} {
		row, r, eff := w.dynamicRow(ip, t)
		rep.Rows = append(rep.Rows, row)
		if ip == "ipv4" && r.hi > 0 {
			rep.Facts.PortRangeLow, rep.Facts.PortRangeHigh = r.lo, r.hi
			rep.Facts.ClientCapacity = t.pairs() * eff
		}
	}
	for _, v := range legacyValues {
		rep.Rows = append(rep.Rows, w.legacyRow(v, t, o.LegacyRegistry))
	}
	f := &rep.Facts
	if t.connects() && f.ClientCapacity > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("client capacity S·D·P·R = %d·%d·%d·R = %d connections over the usable IPv4 dynamic range (excluded ranges removed); under half: %d for a target of %d",
			t.SourceIPs, t.ServerIPs, len(t.Ports), f.ClientCapacity, f.ClientCapacity/2, t.Conns))
	}
	f.Notes = append(f.Notes,
		"WSAENOBUFS (10055) on connect means port exhaustion or non-paged pool exhaustion",
		"Go binds before ConnectEx, so sharing a source port across destinations needs SO_REUSE_UNICASTPORT")
	return rep, nil
}

// dynamicRow checks the TCP dynamic port range of one IP version, minus
// the ranges other software (Hyper-V, WinNAT) has excluded.
func (w *windows) dynamicRow(ip string, t Target) (Row, portRange, int64) {
	row := Row{Name: "dynamicport tcp " + ip, Scope: ScopeHost, Needs: NeedsNothing}
	out, err := w.host.netsh("int", ip, "show", "dynamicport", "tcp")
	if err != nil {
		row.Status, row.Reason = StatusMissing, fmt.Sprintf("cannot run netsh: %v", err)
		return row, portRange{}, 0
	}
	r, err := parseDynamicPort(out)
	if err != nil {
		row.Status, row.Reason = StatusMissing, err.Error()
		return row, portRange{}, 0
	}
	exOut, _ := w.host.netsh("interface", ip, "show", "excludedportrange", "protocol=tcp")
	excluded := parseExcludedPorts(exOut)
	eff := usable(r, excluded)
	row.Live = fmt.Sprintf("%s (%d usable)", r, eff)
	row.Persisted, row.Source = row.Live, "netsh (persistent store)"
	if !t.connects() {
		row.Required, row.Status = "— (server only)", StatusOK
		row.Reason = "a server does not draw on the dynamic range" + overlapNote(t, r)
		return row, r, eff
	}
	need := t.rangeNeeded()
	row.Required = fmt.Sprintf("≥ %d usable ports", need)
	why := fmt.Sprintf("%d connections per (source IP × server ip:port) pair must stay under half the range", ceilDiv(int64(t.Conns), t.pairs())) + overlapNote(t, r)
	if eff >= need {
		row.Status, row.Reason = StatusOK, why
		return row, r, eff
	}
	nr := widenDynamic(r, need, excluded)
	if usable(nr, excluded) < need {
		why += fmt.Sprintf("; even %s is too small: add source IPs or server ports", nr)
	}
	row.Status, row.Reason = StatusLow, why
	row.fix = &fix{key: ip, value: fmt.Sprintf("%d %d", nr.lo, nr.size())}
	return row, r, eff
}

// overlapNote warns when the server's ports fall inside the dynamic range.
func overlapNote(t Target, r portRange) string {
	if !t.serves() {
		return ""
	}
	for _, p := range t.Ports {
		if r.has(int(p)) {
			return fmt.Sprintf("; server port %d lies inside it: exclude the server ports with `netsh int ipv4 add excludedportrange protocol=tcp startport=%d numberofports=%d`", p, t.Ports[0], len(t.Ports))
		}
	}
	return ""
}

func (w *windows) legacyRow(v legacyValue, t Target, write bool) Row {
	row := Row{Name: `Tcpip\Parameters\` + v.name, Scope: ScopeHost, Needs: NeedsReboot, Required: "— (legacy, ignored)"}
	cur, present, err := w.host.regGet(v.name)
	if err != nil {
		row.Status, row.Reason = StatusMissing, fmt.Sprintf("cannot read %s: %v", v.name, err)
		return row
	}
	row.Live = "absent"
	if present {
		row.Live = strconv.FormatUint(uint64(cur), 10)
	}
	row.Persisted, row.Source = row.Live, "registry"
	row.Status, row.Reason = StatusOK, v.why
	if !write {
		row.Reason += " (written only with --legacy-registry)"
		return row
	}
	want := v.want(t)
	row.Required = "≥ " + strconv.FormatInt(want, 10)
	if !present || int64(cur) < want {
		row.Status, row.fix = StatusLow, &fix{key: regPrefix + v.name, value: strconv.FormatInt(want, 10)}
	}
	return row
}

// persist has nothing to do: netsh stores the range persistently and the
// registry is persistent.
func (w *windows) persist([]Row, Options) ([]fileEdit, error) { return nil, nil }

func (w *windows) readValue(key string) (string, bool, error) {
	if name, ok := strings.CutPrefix(key, regPrefix); ok {
		v, present, err := w.host.regGet(name)
		return strconv.FormatUint(uint64(v), 10), present, err
	}
	out, err := w.host.netsh("int", key, "show", "dynamicport", "tcp")
	if err != nil {
		return "", false, err
	}
	r, err := parseDynamicPort(out)
	return fmt.Sprintf("%d %d", r.lo, r.size()), err == nil, err
}

func (w *windows) writeValue(key, value string) error {
	if name, ok := strings.CutPrefix(key, regPrefix); ok {
		v, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return fmt.Errorf("%s: %q is not a DWORD", name, value)
		}
		return w.host.regSet(name, uint32(v))
	}
	var start, num int
	if _, err := fmt.Sscanf(value, "%d %d", &start, &num); err != nil {
		return fmt.Errorf("%s: %q is not START NUM", key, value)
	}
	out, err := w.host.netsh(dynamicPortArgs(key, portRange{start, start + num - 1})...)
	if err != nil {
		return fmt.Errorf("netsh refused (run as Administrator): %s: %w", strings.TrimSpace(out), err)
	}
	return nil
}

func (w *windows) deleteValue(key string) error {
	name, ok := strings.CutPrefix(key, regPrefix)
	if !ok {
		return fmt.Errorf("%s cannot be deleted, only set", key)
	}
	return w.host.regDelete(name)
}
