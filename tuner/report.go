package tuner

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Status is the verdict on one setting.
type Status string

// The statuses check reports.
const (
	StatusOK          Status = "ok"          // satisfies the target
	StatusLow         Status = "low"         // present but short of the target
	StatusMissing     Status = "missing"     // the setting cannot be found where it should be
	StatusReadOnly    Status = "read-only"   // short, and cannot be changed from here
	StatusUnsupported Status = "unsupported" // not available in this environment
)

// Scope says how far a change reaches.
type Scope string

// The scopes of settings.
const (
	ScopeHost    Scope = "host"    // the whole machine, whatever the namespace
	ScopeNetns   Scope = "netns"   // this network namespace only
	ScopeProcess Scope = "process" // each process, from its session or service
)

// What a change needs before it takes effect.
const (
	NeedsNothing    = "nothing"
	NeedsNewProcess = "new process"
	NeedsRelogin    = "re-login"
	NeedsRestart    = "service restart"
	NeedsReboot     = "reboot"
)

// Row is one setting as check sees it.
type Row struct {
	Name      string `json:"name"`
	Scope     Scope  `json:"scope"`
	Live      string `json:"live"`
	Persisted string `json:"persisted,omitempty"`
	Source    string `json:"source,omitempty"` // the file the persisted value comes from
	Required  string `json:"required"`
	Status    Status `json:"status"`
	Needs     string `json:"needs"` // what a change needs to take effect
	Reason    string `json:"reason"`

	fix *fix // what apply writes; nil when there is nothing apply can do
}

// fix is the change apply makes for one row.
type fix struct {
	key    string // back-end key of the live value ("" when there is none)
	value  string // the new live value
	nofile int64  // the descriptor limit to persist (Linux RLIMIT_NOFILE rows)
	unit   string // the systemd unit whose drop-in gets nofile ("" for limits.d)
}

// Facts are what check learned about the environment besides the rows.
type Facts struct {
	OS              string   `json:"os"`
	NofileSoft      int64    `json:"nofile_soft,omitempty"`
	NofileHard      int64    `json:"nofile_hard,omitempty"`
	CanRaiseHard    bool     `json:"can_raise_hard"`
	ConnsPerProcess int64    `json:"conns_per_process,omitempty"`
	ProcsNeeded     int64    `json:"procs_needed,omitempty"`
	ChildNetns      bool     `json:"child_netns"`
	ProcSysReadOnly bool     `json:"proc_sys_read_only"`
	Conntrack       bool     `json:"conntrack_loaded"`
	PortRangeLow    int      `json:"port_range_low,omitempty"`
	PortRangeHigh   int      `json:"port_range_high,omitempty"`
	ClientCapacity  int64    `json:"client_capacity,omitempty"` // S·D·P·R
	Notes           []string `json:"notes"`
}

// Report is the result of a check.
type Report struct {
	Root   string `json:"root,omitempty"`
	Target Target `json:"target"`
	Rows   []Row  `json:"rows"`
	Facts  Facts  `json:"facts"`
}

// OK says whether every row is satisfied.
func (r *Report) OK() bool {
	for _, row := range r.Rows {
		if row.Status != StatusOK {
			return false
		}
	}
	return true
}

// ExitCode is 0 when everything is ok and 2 when something needs tuning.
func (r *Report) ExitCode() int {
	if r.OK() {
		return 0
	}
	return 2
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a table with one reason line per row,
// followed by the facts.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target: %s\n\n", r.Target)
	writeRows(&b, r.Rows)
	b.WriteString("\n")
	for _, n := range r.Facts.Notes {
		fmt.Fprintf(&b, "• %s\n", n)
	}
	if r.OK() {
		b.WriteString("\nall settings satisfy the target\n")
	} else {
		fmt.Fprintf(&b, "\n%d setting(s) need attention: `imtool tune apply` with the same flags changes what it can\n", r.notOK())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) notOK() int {
	n := 0
	for _, row := range r.Rows {
		if row.Status != StatusOK {
			n++
		}
	}
	return n
}

func writeRows(b *strings.Builder, rows []Row) {
	cells := [][]string{{"SETTING", "SCOPE", "LIVE", "PERSISTED", "REQUIRED", "STATUS", "NEEDS"}}
	for _, r := range rows {
		persisted := orDash(r.Persisted)
		if r.Source != "" {
			persisted += " (" + r.Source + ")"
		}
		cells = append(cells, []string{r.Name, string(r.Scope), orDash(r.Live), persisted, r.Required, string(r.Status), r.Needs})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	for i, c := range cells {
		line := ""
		for j, s := range c {
			line += s
			if j < len(c)-1 {
				line += strings.Repeat(" ", width[j]-utf8.RuneCountInString(s)+2)
			}
		}
		b.WriteString(line + "\n")
		if i > 0 && rows[i-1].Reason != "" {
			b.WriteString("    " + rows[i-1].Reason + "\n")
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
