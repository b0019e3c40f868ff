package tuner

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
)

// Options drive Check, Apply and Revert.
type Options struct {
	Root           string  // directory every path is resolved under; "/" on a real host
	Target         Target  // what the host must carry
	Service        string  // systemd unit that also gets LimitNOFILE (Linux)
	Scopes         []Scope // apply only rows of these scopes; empty means all
	LiveOnly       bool    // set live values, write no files
	PersistOnly    bool    // write files, leave live values alone
	LegacyRegistry bool    // also check and write the pre-Vista Tcpip values (Windows)
	Yes            bool    // apply without asking
	Force          bool    // revert also what was changed since apply
	In             io.Reader
	Out            io.Writer // the plan and the question go here

	writeLive func(name string, data []byte) error // tests: make chosen live writes fail
}

// backend is one operating system's half of tune.
type backend interface {
	check(o Options) (*Report, error)
	persist(rows []Row, o Options) ([]fileEdit, error)
	readValue(key string) (value string, present bool, err error)
	writeValue(key, value string) error
	deleteValue(key string) error
	files() rootFS // where persisted files and the snapshot live
	snapshotPath() string
}

// fileEdit is one file apply writes whole.
type fileEdit struct {
	path string
	data []byte
	what string // one line for the plan
}

// ErrDeclined is returned by Apply when the answer to its question is no.
var ErrDeclined = errors.New("nothing was changed")

// Check probes the host and reports each setting against the target.
func Check(o Options) (*Report, error) {
	b, err := newBackend(o)
	if err != nil {
		return nil, err
	}
	return check(b, o)
}

func check(b backend, o Options) (*Report, error) {
	if err := o.Target.Validate(); err != nil {
		return nil, err
	}
	return b.check(o)
}

// ApplyResult is what Apply did.
type ApplyResult struct {
	Before, After *Report
	Changed       []string // one line per change made
	Failed        []error  // changes that failed, each with its fix
	Skipped       []Row    // rows apply cannot fix from here
	Warnings      []string
	Snapshot      string // where the previous state is kept
	KeptSnapshot  bool   // an earlier snapshot was kept and extended
}

// ExitCode is 0 when the host now satisfies the target, 2 otherwise.
func (r *ApplyResult) ExitCode() int {
	if len(r.Failed) == 0 && r.After.OK() {
		return 0
	}
	return 2
}

// Apply changes what the check finds short: it shows the plan, asks unless
// Yes, snapshots the previous state, writes live values and files, and
// checks again. One failed setting never stops the others.
func Apply(o Options) (*ApplyResult, error) {
	b, err := newBackend(o)
	if err != nil {
		return nil, err
	}
	return apply(b, o)
}

func apply(b backend, o Options) (*ApplyResult, error) {
	before, err := check(b, o)
	if err != nil {
		return nil, err
	}
	res := &ApplyResult{Before: before, After: before, Snapshot: b.files().path(b.snapshotPath())}
	var todo []Row
	for _, row := range before.Rows {
		switch {
		case row.Status == StatusOK || row.Status == StatusUnsupported || !inScope(o.Scopes, row.Scope):
		case row.fix == nil:
			res.Skipped = append(res.Skipped, row)
		default:
			todo = append(todo, row)
		}
	}
	var live []Row
	var edits []fileEdit
	if !o.PersistOnly {
		for _, row := range todo {
			if row.fix.key != "" {
				live = append(live, row)
			}
		}
	}
	if !o.LiveOnly && len(todo) > 0 {
		if edits, err = b.persist(todo, o); err != nil {
			return nil, err
		}
	}
	if len(live) == 0 && len(edits) == 0 {
		return res, nil
	}
	if err := confirm(o, live, edits, res.Skipped); err != nil {
		return res, err
	}
	if res.KeptSnapshot, err = saveSnapshot(b, live, edits); err != nil {
		return res, err
	}
	for _, row := range live {
		if err := b.writeValue(row.fix.key, row.fix.value); err != nil {
			res.Failed = append(res.Failed, explainWrite(row.Name, row.fix.value, err))
			continue
		}
		res.Changed = append(res.Changed, fmt.Sprintf("%s: %s → %s", row.Name, row.Live, row.fix.value))
	}
	fs := b.files()
	for _, e := range edits {
		if err := writeEdit(fs, e); err != nil {
			res.Failed = append(res.Failed, fmt.Errorf("cannot write %s: %w", e.path, err))
			continue
		}
		res.Changed = append(res.Changed, fmt.Sprintf("wrote %s: %s", e.path, e.what))
	}
	if err := recordApplied(b, live, edits); err != nil {
		res.Failed = append(res.Failed, fmt.Errorf("cannot record in the snapshot what apply wrote (revert will not notice later hand edits): %w", err))
	}
	if res.After, err = check(b, o); err != nil {
		return res, err
	}
	res.Warnings = overrides(res.After, todo, edits)
	return res, nil
}

func inScope(scopes []Scope, s Scope) bool { return len(scopes) == 0 || slices.Contains(scopes, s) }

func writeEdit(fs rootFS, e fileEdit) error {
	if err := fs.mkdirAll(dirOf(e.path)); err != nil {
		return err
	}
	return fs.writeAtomic(e.path, e.data, 0o644)
}

func dirOf(name string) string { return name[:strings.LastIndex(name, "/")] }

// confirm prints the plan and, unless o.Yes, asks for a yes on o.In.
func confirm(o Options, live []Row, edits []fileEdit, skipped []Row) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	var b strings.Builder
	b.WriteString("imtool will change:\n")
	for _, row := range live {
		fmt.Fprintf(&b, "  live  %s: %s → %s\n", row.Name, row.Live, row.fix.value)
	}
	for _, e := range edits {
		fmt.Fprintf(&b, "  file  %s: %s\n", e.path, e.what)
	}
	for _, row := range skipped {
		fmt.Fprintf(&b, "  skip  %s: %s\n", row.Name, row.Reason)
	}
	if o.Yes {
		_, err := io.WriteString(o.Out, b.String())
		return err
	}
	b.WriteString("Apply these changes? [y/N] ")
	if _, err := io.WriteString(o.Out, b.String()); err != nil {
		return err
	}
	if o.In == nil {
		return fmt.Errorf("%w: no answer to read (use --yes to apply without asking)", ErrDeclined)
	}
	answer, _ := bufio.NewReader(o.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return ErrDeclined
	}
	return nil
}

// explainWrite turns a failed live write into what the person at the
// terminal can do about it.
func explainWrite(name, value string, err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("cannot raise %s: /proc/sys is read-only (container?): use docker --sysctl or run on the host: %w", name, err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot raise %s: permission denied: run as root, and set host-wide values from the host, not a container: %w", name, err)
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("cannot set %s to %s: the kernel rejects the value (fs.nr_open is capped at 1073741816; a port range needs LOW < HIGH): %w", name, value, err)
	}
	return fmt.Errorf("cannot set %s to %s: %w", name, value, err)
}

// overrides warns about persisted values that come from a file other than
// the one apply wrote, which is read later and wins at boot.
func overrides(after *Report, todo []Row, edits []fileEdit) []string {
	ours := map[string]bool{}
	for _, e := range edits {
		ours[e.path] = true
	}
	var out []string
	for _, row := range after.Rows {
		if row.Source == "" || ours[row.Source] || len(edits) == 0 || !slices.ContainsFunc(todo, func(r Row) bool { return r.Name == row.Name }) {
			continue
		}
		out = append(out, fmt.Sprintf("%s sets %s = %s and is read after imtool's file, so it wins at boot: remove or raise that line", row.Source, row.Name, row.Persisted))
	}
	return out
}

// WriteText writes what apply did, then the check that followed.
func (r *ApplyResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(r.Changed) == 0 && len(r.Failed) == 0 {
		b.WriteString("nothing to change\n")
	}
	for _, c := range r.Changed {
		fmt.Fprintf(&b, "changed  %s\n", c)
	}
	for _, e := range r.Failed {
		fmt.Fprintf(&b, "FAILED   %v\n", e)
	}
	for _, row := range r.Skipped {
		fmt.Fprintf(&b, "skipped  %s: %s\n", row.Name, row.Reason)
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(&b, "warning  %s\n", wn)
	}
	if len(r.Changed) > 0 {
		kept := ""
		if r.KeptSnapshot {
			kept = " (an earlier snapshot was kept; new items were added to it)"
		}
		fmt.Fprintf(&b, "previous state saved in %s%s; `imtool tune revert` restores it\n", r.Snapshot, kept)
	}
	b.WriteString("\nafter apply:\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return r.After.WriteText(w)
}
