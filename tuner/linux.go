package tuner

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/imtool/imtool/internal/host"
)

// linux is the Linux back end: sysctls under /proc/sys, boot files under
// /etc, RLIMIT_NOFILE from /proc/self, all through a root directory.
type linux struct {
	fs   rootFS
	env  environment
	boot map[string]confValue // persisted sysctls
}

func newLinux(fs rootFS) *linux { return &linux{fs: fs} }

func (l *linux) snapshotPath() string { return "/var/lib/imtool/tune-backup.json" }
func (l *linux) files() rootFS        { return l.fs }

func (l *linux) check(o Options) (*Report, error) {
	if !l.fs.exists("/proc/sys") {
		return nil, fmt.Errorf("cannot check: %s has no /proc/sys (is this Linux? point --root at a Linux root)", l.fs.path("/proc/sys"))
	}
	t := o.Target
	l.env = probeEnvironment(l.fs)
	l.boot = persistedSysctls(l.fs)
	rep := &Report{Root: o.Root, Target: t, Facts: Facts{OS: "linux", ChildNetns: l.env.childNetns, ProcSysReadOnly: l.env.procSysRO, Conntrack: l.env.conntrack}}
	rep.Rows = append(rep.Rows, l.nofileRow(t, &rep.Facts))
	if o.Service != "" {
		rep.Rows = append(rep.Rows, l.serviceRow(t, unitName(o.Service)))
	}
	for _, s := range minSysctls {
		if s.applies(t) {
			rep.Rows = append(rep.Rows, l.minRow(s, t))
		}
	}
	live := l.liveRange()
	rep.Facts.PortRangeLow, rep.Facts.PortRangeHigh = live.lo, live.hi
	after := live // the range once apply has widened it
	if t.connects() {
		row, widened := l.portRangeRow(t)
		if row.fix != nil {
			after = widened
		}
		rep.Rows = append(rep.Rows, row)
	}
	if t.serves() {
		rep.Rows = append(rep.Rows, l.reservedRow(t, after, after != live))
	}
	rep.Rows = append(rep.Rows, l.tcpMemRow(t))
	l.notes(rep)
	return rep, nil
}

// liveRange is the current ephemeral range, or the kernel default when it
// cannot be read.
func (l *linux) liveRange() portRange {
	r, err := host.ReadPortRange(l.fs.root())
	if err != nil {
		return portRange{32768, 60999}
	}
	return portRange{r[0], r[1]}
}

// tcpMemRow is advisory: idle connections hold no buffers, so tcp_mem only
// matters when sockets hold unread data (≈ 4 KB, one page, each).
func (l *linux) tcpMemRow(t Target) Row {
	const key = "net.ipv4.tcp_mem"
	row := l.newRow(key, ScopeHost, NeedsNothing)
	busy := t.ends() * int64(t.Conns)
	row.Required = "defaults (advisory)"
	live, err := l.readSysctl(key)
	if err != nil {
		return l.absent(row, minSysctl{key: key, hostOnly: true}, err)
	}
	row.Live, row.Status = live, StatusOK
	f := strings.Fields(live)
	maxPages, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	if maxPages < busy {
		row.Reason = fmt.Sprintf("idle sockets use none of it, but %d sockets holding 4 KB unread would need %d pages > max %d: keep clients draining reads", busy, busy, maxPages)
	} else {
		row.Reason = fmt.Sprintf("idle sockets use none of it; max %d pages covers 4 KB unread on all %d sockets", maxPages, busy)
	}
	return row
}

func (l *linux) notes(rep *Report) {
	f, t := &rep.Facts, rep.Target
	n := fmt.Sprintf("a new process gets RLIMIT_NOFILE %s (/proc/self/limits)", rlimit{Soft: f.NofileSoft, Hard: f.NofileHard})
	switch {
	case f.ProcsNeeded == 0:
	case f.CanRaiseHard:
		n += fmt.Sprintf("; until it is raised, shard with --procs %d (≤ %d connections per process)", f.ProcsNeeded, f.ConnsPerProcess)
	default:
		n += fmt.Sprintf("; the hard limit cannot be raised here (no CAP_SYS_RESOURCE): use --procs %d (≤ %d connections per process)", f.ProcsNeeded, f.ConnsPerProcess)
	}
	f.Notes = append(f.Notes, n)
	if f.ChildNetns {
		f.Notes = append(f.Notes, "this is a child network namespace: netns rows change only it; host rows change the whole machine or are read-only here")
	} else {
		f.Notes = append(f.Notes, "no sign of a child network namespace")
	}
	if f.ProcSysReadOnly {
		f.Notes = append(f.Notes, "/proc/sys is mounted read-only (container?): set sysctls with docker --sysctl or on the host")
	}
	if f.Conntrack {
		f.Notes = append(f.Notes, "conntrack is loaded: every connection takes a conntrack entry")
	} else {
		f.Notes = append(f.Notes, "conntrack is not loaded")
	}
	if t.connects() {
		r := portRange{f.PortRangeLow, f.PortRangeHigh}
		f.ClientCapacity = t.pairs() * r.size()
		verdict := "fits"
		if f.ClientCapacity/2 < int64(t.Conns) {
			verdict = "does not fit"
		}
		f.Notes = append(f.Notes, fmt.Sprintf("client capacity S·D·P·R = %d·%d·%d·%d = %d connections; under half the range %d: the target of %d %s",
			t.SourceIPs, t.ServerIPs, len(t.Ports), r.size(), f.ClientCapacity, f.ClientCapacity/2, t.Conns, verdict))
	}
}

// persist returns the files that make the fixes of rows survive a reboot
// or reach new sessions.
func (l *linux) persist(rows []Row, o Options) ([]fileEdit, error) {
	header := fmt.Sprintf("# Written by `imtool tune apply` for: %s.\n# Undo with `imtool tune revert`; the previous state is in %s.\n", o.Target, l.snapshotPath())
	var edits []fileEdit
	var sysctls [][2]string
	var nofile int64
	var units []fileEdit
	for _, r := range rows {
		switch {
		case r.fix.key != "":
			sysctls = append(sysctls, [2]string{r.fix.key, r.fix.value})
		case r.fix.unit != "":
			n := strconv.FormatInt(r.fix.nofile, 10)
			units = append(units, fileEdit{path: serviceDropIn(r.fix.unit), data: []byte(header + "[Service]\nLimitNOFILE=" + n + "\n"),
				what: "LimitNOFILE=" + n + " for " + r.fix.unit + " (then: systemctl daemon-reload && systemctl restart " + r.fix.unit + ")"})
		case r.fix.nofile > 0:
			nofile = r.fix.nofile
		}
	}
	if len(sysctls) > 0 {
		old, err := l.fs.read(imtoolSysctlConf)
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("cannot read %s: %w", imtoolSysctlConf, err)
		}
		merged := mergeKV(parseSysctlConf(old), sysctls)
		var b strings.Builder
		b.WriteString(header)
		for _, kv := range merged {
			fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
		}
		edits = append(edits, fileEdit{path: imtoolSysctlConf, data: []byte(b.String()), what: fmt.Sprintf("%d sysctl(s), applied at boot", len(merged))})
	}
	if nofile > 0 {
		n := strconv.FormatInt(nofile, 10)
		text := header + "# pam_limits applies it at the next login; \"*\" does not cover root, hence both.\n" +
			"*    soft nofile " + n + "\n*    hard nofile " + n + "\nroot soft nofile " + n + "\nroot hard nofile " + n + "\n"
		edits = append(edits, fileEdit{path: imtoolLimitsConf, data: []byte(text), what: "nofile " + n + " for new logins"})
	}
	return append(edits, units...), nil
}

// mergeKV overlays updates on old, keeping old's order and appending new keys.
func mergeKV(old, updates [][2]string) [][2]string {
	out := append([][2]string(nil), old...)
	for _, u := range updates {
		replaced := false
		for i := range out {
			if out[i][0] == u[0] {
				out[i][1], replaced = u[1], true
			}
		}
		if !replaced {
			out = append(out, u)
		}
	}
	return out
}

// readValue returns the raw live value of a sysctl, exactly as the kernel
// prints it, so revert can write it back byte for byte.
func (l *linux) readValue(key string) (string, bool, error) {
	s, err := l.fs.read(sysctlPath(key))
	if os.IsNotExist(err) {
		return "", false, nil
	}
	return s, err == nil, err
}

func (l *linux) writeValue(key, value string) error {
	if !strings.HasSuffix(value, "\n") {
		value += "\n"
	}
	return l.fs.put(sysctlPath(key), []byte(value))
}

func (l *linux) deleteValue(key string) error {
	return fmt.Errorf("%s cannot be deleted, only set", key)
}
