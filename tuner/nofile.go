package tuner

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/imtool/imtool/internal/host"
)

const (
	imtoolLimitsConf = "/etc/security/limits.d/90-imtool.conf"
	capSysResource   = 24 // bit in CapEff
)

// rlimit is a soft/hard pair as tune prints it; -1 stands for unlimited.
type rlimit host.Rlimit

func (r rlimit) String() string { return limitString(r.Soft) + "/" + limitString(r.Hard) }

func limitString(v int64) string {
	if v < 0 {
		return "unlimited"
	}
	return strconv.FormatInt(v, 10)
}

// hasCap reads a capability bit from the CapEff line of /proc/<pid>/status.
func hasCap(status string, bit uint) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<bit) != 0
		}
	}
	return false
}

// persistedNofile returns the hard nofile limit pam_limits gives a login
// ("*" domain): limits.conf first, then limits.d/*.conf in name order, the
// last entry winning.
func persistedNofile(fs rootFS) (confValue, bool) {
	files := append([]string{"/etc/security/limits.conf"}, fs.glob("/etc/security/limits.d", "*.conf")...)
	var got confValue
	found := false
	for _, f := range files {
		text, err := fs.read(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(text, "\n") {
			fl := strings.Fields(line)
			if len(fl) == 4 && fl[0] == "*" && (fl[1] == "hard" || fl[1] == "-") && fl[2] == "nofile" {
				got, found = confValue{value: fl[3], file: f}, true
			}
		}
	}
	return got, found
}

// nofileRow checks RLIMIT_NOFILE: what a new process gets, and whether it
// can be raised at all.
func (l *linux) nofileRow(t Target, facts *Facts) Row {
	need := t.nofile()
	row := Row{Name: "RLIMIT_NOFILE", Scope: ScopeProcess, Needs: NeedsRelogin, Required: "hard ≥ " + strconv.FormatInt(need, 10)}
	if p, ok := persistedNofile(l.fs); ok {
		row.Persisted, row.Source = p.value, p.file
	}
	hl, err := host.ReadNofile(l.fs.root())
	if err != nil {
		row.Status, row.Reason = StatusMissing, fmt.Sprintf("%s: %v", host.ProcLimits, err)
		return row
	}
	lim := rlimit(hl)
	status, _ := l.fs.read("/proc/self/status")
	facts.NofileSoft, facts.NofileHard = lim.Soft, lim.Hard
	facts.CanRaiseHard = hasCap(status, capSysResource)
	row.Live = lim.String()
	if lim.Hard < 0 || lim.Hard >= need {
		row.Status, row.Needs = StatusOK, NeedsNothing
		row.Reason = "a new process gets this; Go raises the soft limit to the hard one at start"
		return row
	}
	perProc := t.connsPerProcess(lim.Hard)
	facts.ConnsPerProcess, facts.ProcsNeeded = perProc, ceilDiv(int64(t.Conns), perProc)
	if p, err := host.ParseLimit(row.Persisted); err == nil && (p < 0 || p >= need) {
		row.Status = StatusOK
		row.Reason = fmt.Sprintf("%s raises it at the next login; this session still has %s", row.Source, lim)
		return row
	}
	if !facts.CanRaiseHard {
		row.Status = StatusReadOnly
		row.Reason = fmt.Sprintf("hard limit %d cannot be raised here (CapEff lacks CAP_SYS_RESOURCE): run with --procs %d (≤ %d connections per process), or raise it where the container starts (docker --ulimit nofile=%d)",
			lim.Hard, facts.ProcsNeeded, perProc, need)
		return row
	}
	row.Status, row.fix = StatusLow, &fix{nofile: need}
	row.Reason = fmt.Sprintf("every socket is a descriptor: h·N + P + %d; until a re-login, use --procs %d", host.FDReserve, facts.ProcsNeeded)
	return row
}

// serviceRow checks LimitNOFILE in the drop-ins of a systemd unit.
func (l *linux) serviceRow(t Target, unit string) Row {
	need := t.nofile()
	row := Row{Name: "LimitNOFILE (" + unit + ")", Scope: ScopeProcess, Needs: NeedsRestart, Required: "≥ " + strconv.FormatInt(need, 10)}
	files := l.fs.glob(path.Join("/etc/systemd/system", unit+".d"), "*.conf")
	sort.Strings(files)
	for _, f := range files {
		text, _ := l.fs.read(f)
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "LimitNOFILE="); ok {
				_, hard, _ := strings.Cut(v, ":")
				if hard == "" {
					hard = v
				}
				row.Persisted, row.Source = strings.TrimSpace(hard), f
			}
		}
	}
	if v, err := host.ParseLimit(row.Persisted); err == nil && (v < 0 || v >= need) {
		row.Status, row.Needs, row.Reason = StatusOK, NeedsNothing, "the service gets this at its next start"
		return row
	}
	row.Status, row.fix = StatusLow, &fix{nofile: need, unit: unit}
	row.Reason = "services ignore limits.d: systemd sets LimitNOFILE (default 1024:524288); restart after apply"
	return row
}

func serviceDropIn(unit string) string {
	return path.Join("/etc/systemd/system", unit+".d", "90-imtool.conf")
}

// unitName adds ".service" to a bare unit name.
func unitName(s string) string {
	if s == "" || strings.Contains(s, ".") {
		return s
	}
	return s + ".service"
}
