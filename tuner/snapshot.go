package tuner

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// Snapshot is the state before the first apply: live values and files,
// with "absent" recorded so revert deletes rather than writes a zero. It
// also holds what the last apply left in place of each (AppliedValues by
// key, as valueState; AppliedFiles by path, as fileState), so revert can
// tell an operator's change since apply from apply's own and keep it.
type Snapshot struct {
	Created       time.Time         `json:"created"`
	Values        []SavedValue      `json:"values"`
	Files         []SavedFile       `json:"files"`
	CreatedDirs   []string          `json:"created_dirs"` // parent first; revert removes them if empty
	AppliedValues map[string]string `json:"applied_values,omitempty"`
	AppliedFiles  map[string]string `json:"applied_files,omitempty"`
}

// SavedValue is a live value as it was.
type SavedValue struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Absent bool   `json:"absent,omitempty"`
}

// SavedFile is a file as it was.
type SavedFile struct {
	Path    string      `json:"path"`
	Absent  bool        `json:"absent,omitempty"`
	Mode    fs.FileMode `json:"mode,omitempty"`
	Content []byte      `json:"content,omitempty"`
}

func loadSnapshot(b backend) (*Snapshot, error) {
	text, err := b.files().read(b.snapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the snapshot: %w", err)
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, fmt.Errorf("cannot read the snapshot %s: %w (fix or move it away by hand)", b.files().path(b.snapshotPath()), err)
	}
	return &s, nil
}

// saveSnapshot records the state of everything apply is about to change.
// An existing snapshot is kept: only items it does not cover yet are added,
// so it always holds the state from before the first apply.
func saveSnapshot(b backend, live []Row, edits []fileEdit) (kept bool, err error) {
	fsys := b.files()
	s, err := loadSnapshot(b)
	if err != nil {
		return false, err
	}
	kept = s != nil
	if s == nil {
		s = &Snapshot{Created: time.Now().UTC(), CreatedDirs: fsys.missingDirs(b.snapshotPath())}
	}
	for _, row := range live {
		key := row.fix.key
		if slices.ContainsFunc(s.Values, func(v SavedValue) bool { return v.Key == key }) {
			continue
		}
		v, present, err := b.readValue(key)
		if err != nil {
			return kept, fmt.Errorf("cannot save %s before changing it: %w", key, err)
		}
		s.Values = append(s.Values, SavedValue{Key: key, Value: v, Absent: !present})
	}
	for _, e := range edits {
		if slices.ContainsFunc(s.Files, func(f SavedFile) bool { return f.Path == e.path }) {
			continue
		}
		saved := SavedFile{Path: e.path}
		switch st, err := os.Stat(fsys.path(e.path)); {
		case errors.Is(err, fs.ErrNotExist):
			saved.Absent = true
		case err != nil:
			return kept, fmt.Errorf("cannot save %s before changing it: %w", e.path, err)
		default:
			saved.Mode = st.Mode().Perm()
			if saved.Content, err = os.ReadFile(fsys.path(e.path)); err != nil {
				return kept, fmt.Errorf("cannot save %s before changing it: %w", e.path, err)
			}
		}
		s.Files = append(s.Files, saved)
		for _, d := range fsys.missingDirs(e.path) {
			if !slices.Contains(s.CreatedDirs, d) {
				s.CreatedDirs = append(s.CreatedDirs, d)
			}
		}
	}
	if err := writeSnapshot(b, s); err != nil {
		return kept, fmt.Errorf("cannot save the snapshot (nothing was changed): %w", err)
	}
	return kept, nil
}

func writeSnapshot(b backend, s *Snapshot) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	fsys := b.files()
	if err := fsys.mkdirAll(dirOf(b.snapshotPath())); err != nil {
		return fmt.Errorf("cannot create the snapshot's directory: %w", err)
	}
	return fsys.writeAtomic(b.snapshotPath(), append(data, '\n'), 0o600)
}

// recordApplied stores in the snapshot what apply left in place of every
// item it touched, read back after its writes (so a write that failed
// records the value that stayed). An item that cannot be read back is left
// unrecorded: revert then restores it without asking whether it changed.
func recordApplied(b backend, live []Row, edits []fileEdit) error {
	s, err := loadSnapshot(b)
	if err != nil || s == nil {
		return err
	}
	if s.AppliedValues == nil {
		s.AppliedValues = map[string]string{}
	}
	if s.AppliedFiles == nil {
		s.AppliedFiles = map[string]string{}
	}
	for _, row := range live {
		if v, present, err := b.readValue(row.fix.key); err == nil {
			s.AppliedValues[row.fix.key] = valueState(v, present)
		} else {
			delete(s.AppliedValues, row.fix.key)
		}
	}
	for _, e := range edits {
		if st, err := fileState(b.files(), e.path); err == nil {
			s.AppliedFiles[e.path] = st
		} else {
			delete(s.AppliedFiles, e.path)
		}
	}
	return writeSnapshot(b, s)
}

// absentState is the state (valueState, fileState) of a value or file that
// does not exist.
const absentState = "(absent)"

// valueState is a live value as revert compares it: its fields, so the
// kernel's tab and an operator's space compare equal.
func valueState(v string, present bool) string {
	if !present {
		return absentState
	}
	return strings.Join(strings.Fields(v), " ")
}

// fileState is a file as revert compares it: the SHA-256 of its content.
func fileState(fsys rootFS, name string) (string, error) {
	data, err := os.ReadFile(fsys.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return absentState, nil
	}
	if err != nil {
		return "", err
	}
	return contentState(data), nil
}

func contentState(data []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(data))
}

// RevertResult is what Revert did.
type RevertResult struct {
	Snapshot string
	Nothing  bool     // there was no snapshot
	Restored []string // one line per item
	Kept     []string // items an operator changed since apply, left as they are
	Failed   []error
}

// ExitCode is 0 when everything was restored.
func (r *RevertResult) ExitCode() int {
	if len(r.Failed) > 0 || len(r.Kept) > 0 {
		return 2
	}
	return 0
}

// WriteText writes what revert did.
func (r *RevertResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Nothing {
		fmt.Fprintf(&b, "nothing to revert: no snapshot at %s\n", r.Snapshot)
	}
	for _, s := range r.Restored {
		fmt.Fprintf(&b, "restored  %s\n", s)
	}
	for _, s := range r.Kept {
		fmt.Fprintf(&b, "KEPT      %s\n", s)
	}
	for _, e := range r.Failed {
		fmt.Fprintf(&b, "FAILED    %v\n", e)
	}
	switch {
	case len(r.Failed) > 0:
		fmt.Fprintf(&b, "the snapshot stays in %s: fix the above and run revert again\n", r.Snapshot)
	case len(r.Kept) > 0:
		fmt.Fprintf(&b, "the snapshot stays in %s: what was changed since apply is kept; "+
			"`imtool tune revert --force` restores it too (an edited file is copied aside first)\n", r.Snapshot)
	case !r.Nothing:
		fmt.Fprintf(&b, "removed the snapshot %s\n", r.Snapshot)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Revert restores the snapshot exactly (live values, files, deleting the
// files and directories apply created), then removes it. Without a
// snapshot it does nothing, so running it twice is harmless. An item
// changed since apply (neither what apply left nor what was there before)
// is kept as it is and reported, and the snapshot stays; with o.Force it is
// restored too, an edited file first copied aside (backupName).
func Revert(o Options) (*RevertResult, error) {
	b, err := newBackend(o)
	if err != nil {
		return nil, err
	}
	return revert(b, o.Force)
}

func revert(b backend, force bool) (*RevertResult, error) {
	fsys := b.files()
	res := &RevertResult{Snapshot: fsys.path(b.snapshotPath())}
	s, err := loadSnapshot(b)
	if err != nil || s == nil {
		res.Nothing = s == nil
		return res, err
	}
	for i := len(s.Values) - 1; i >= 0; i-- {
		revertValue(b, s, s.Values[i], force, res)
	}
	for _, f := range s.Files {
		revertFile(fsys, s, f, force, res)
	}
	if len(res.Failed) > 0 || len(res.Kept) > 0 {
		return res, nil
	}
	if err := fsys.remove(b.snapshotPath()); err != nil {
		res.Failed = append(res.Failed, fmt.Errorf("cannot remove the snapshot: %w", err))
	}
	for i := len(s.CreatedDirs) - 1; i >= 0; i-- {
		if err := fsys.removeEmptyDir(s.CreatedDirs[i]); err != nil {
			res.Failed = append(res.Failed, err)
		}
	}
	return res, nil
}

// changedSinceApply reports whether cur is neither what apply left (as
// recorded) nor what was there before it. Without a record (a snapshot from
// before records were kept, or an apply cut short) nothing counts as changed.
func changedSinceApply(applied map[string]string, key, cur, before string) (appliedState string, changed bool) {
	appliedState, ok := applied[key]
	return appliedState, ok && cur != appliedState && cur != before
}

func revertValue(b backend, s *Snapshot, v SavedValue, force bool, res *RevertResult) {
	curRaw, present, err := b.readValue(v.Key)
	if err != nil {
		res.Failed = append(res.Failed, fmt.Errorf("cannot read %s to restore it: %w", v.Key, err))
		return
	}
	cur := valueState(curRaw, present)
	applied, changed := changedSinceApply(s.AppliedValues, v.Key, cur, valueState(v.Value, !v.Absent))
	if changed && !force {
		res.Kept = append(res.Kept, fmt.Sprintf("%s = %s: changed since apply (apply set %s; before it was %s); left as it is",
			v.Key, cur, applied, describeSaved(v)))
		return
	}
	if v.Absent {
		err = b.deleteValue(v.Key)
	} else {
		err = b.writeValue(v.Key, v.Value)
	}
	if err != nil {
		res.Failed = append(res.Failed, fmt.Errorf("cannot restore %s: %w", v.Key, err))
		return
	}
	line := fmt.Sprintf("%s = %s", v.Key, describeSaved(v))
	if changed {
		line += fmt.Sprintf(" (--force: overwrote %s, set since apply)", cur)
	}
	res.Restored = append(res.Restored, line)
}

func revertFile(fsys rootFS, s *Snapshot, f SavedFile, force bool, res *RevertResult) {
	cur, err := fileState(fsys, f.Path)
	if err != nil {
		res.Failed = append(res.Failed, fmt.Errorf("cannot read %s to restore it: %w", f.Path, err))
		return
	}
	before := absentState
	if !f.Absent {
		before = contentState(f.Content)
	}
	_, changed := changedSinceApply(s.AppliedFiles, f.Path, cur, before)
	undo := "restores it"
	if f.Absent {
		undo = "deletes it (imtool created it)"
	}
	if changed && !force {
		res.Kept = append(res.Kept, fmt.Sprintf("%s: edited since apply; left as it is (--force copies it to %s, then %s)",
			f.Path, backupName(f.Path, "<time>"), undo))
		return
	}
	var backup string
	if changed && cur != absentState {
		if backup, err = backupFile(fsys, f.Path); err != nil {
			res.Failed = append(res.Failed, fmt.Errorf("cannot copy %s aside before restoring it (nothing was changed): %w", f.Path, err))
			return
		}
	}
	if f.Absent {
		err = fsys.remove(f.Path)
	} else {
		err = fsys.writeAtomic(f.Path, f.Content, f.Mode)
	}
	if err != nil {
		res.Failed = append(res.Failed, fmt.Errorf("cannot restore %s: %w", f.Path, err))
		return
	}
	line := f.Path
	if f.Absent {
		line = "deleted " + f.Path + " (imtool created it)"
	}
	if backup != "" {
		line += "; its edits since apply are kept in " + backup
	}
	res.Restored = append(res.Restored, line)
}

// backupName is where revert --force copies a file edited since apply. No
// reader of the directories imtool writes (sysctl.d, limits.d, systemd
// drop-ins) loads it: they read only *.conf.
func backupName(name, stamp string) string { return name + ".edited-" + stamp }

func backupFile(fsys rootFS, name string) (string, error) {
	st, err := os.Stat(fsys.path(name))
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(fsys.path(name))
	if err != nil {
		return "", err
	}
	backup := backupName(name, time.Now().UTC().Format("20060102T150405Z"))
	if err := fsys.writeAtomic(backup, data, st.Mode().Perm()); err != nil {
		return "", err
	}
	return backup, nil
}

func describeSaved(v SavedValue) string {
	if v.Absent {
		return "(absent)"
	}
	return strings.Join(strings.Fields(v.Value), " ")
}
