package tuner

import (
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
// with "absent" recorded so revert deletes rather than writes a zero.
type Snapshot struct {
	Created     time.Time    `json:"created"`
	Values      []SavedValue `json:"values"`
	Files       []SavedFile  `json:"files"`
	CreatedDirs []string     `json:"created_dirs"` // parent first; revert removes them if empty
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
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return kept, err
	}
	if err := fsys.mkdirAll(dirOf(b.snapshotPath())); err != nil {
		return kept, fmt.Errorf("cannot create the snapshot's directory: %w", err)
	}
	if err := fsys.writeAtomic(b.snapshotPath(), append(data, '\n'), 0o600); err != nil {
		return kept, fmt.Errorf("cannot save the snapshot (nothing was changed): %w", err)
	}
	return kept, nil
}

// RevertResult is what Revert did.
type RevertResult struct {
	Snapshot string
	Nothing  bool     // there was no snapshot
	Restored []string // one line per item
	Failed   []error
}

// ExitCode is 0 when everything was restored.
func (r *RevertResult) ExitCode() int {
	if len(r.Failed) > 0 {
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
	for _, e := range r.Failed {
		fmt.Fprintf(&b, "FAILED    %v\n", e)
	}
	switch {
	case len(r.Failed) > 0:
		fmt.Fprintf(&b, "the snapshot stays in %s: fix the above and run revert again\n", r.Snapshot)
	case !r.Nothing:
		fmt.Fprintf(&b, "removed the snapshot %s\n", r.Snapshot)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Revert restores the snapshot exactly (live values, files, deleting the
// files and directories apply created), then removes it. Without a
// snapshot it does nothing, so running it twice is harmless.
func Revert(o Options) (*RevertResult, error) {
	b, err := newBackend(o)
	if err != nil {
		return nil, err
	}
	return revert(b)
}

func revert(b backend) (*RevertResult, error) {
	fsys := b.files()
	res := &RevertResult{Snapshot: fsys.path(b.snapshotPath())}
	s, err := loadSnapshot(b)
	if err != nil || s == nil {
		res.Nothing = s == nil
		return res, err
	}
	for i := len(s.Values) - 1; i >= 0; i-- {
		v := s.Values[i]
		var err error
		if v.Absent {
			err = b.deleteValue(v.Key)
		} else {
			err = b.writeValue(v.Key, v.Value)
		}
		if err != nil {
			res.Failed = append(res.Failed, fmt.Errorf("cannot restore %s: %w", v.Key, err))
			continue
		}
		res.Restored = append(res.Restored, fmt.Sprintf("%s = %s", v.Key, describeSaved(v)))
	}
	for _, f := range s.Files {
		if f.Absent {
			err = fsys.remove(f.Path)
		} else {
			err = fsys.writeAtomic(f.Path, f.Content, f.Mode)
		}
		if err != nil {
			res.Failed = append(res.Failed, fmt.Errorf("cannot restore %s: %w", f.Path, err))
			continue
		}
		if f.Absent {
			res.Restored = append(res.Restored, "deleted "+f.Path+" (imtool created it)")
		} else {
			res.Restored = append(res.Restored, f.Path)
		}
	}
	if len(res.Failed) > 0 {
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

func describeSaved(v SavedValue) string {
	if v.Absent {
		return "(absent)"
	}
	return strings.Join(strings.Fields(v.Value), " ")
}
