package tuner

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// copyTree copies a fixture tree (files, symlinks, modes) into a temp dir.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// treeState lists every directory, file (content and mode) and symlink.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	state := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			state[rel] = "dir"
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			state[rel] = "link " + target
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			state[rel] = info.Mode().String() + " " + string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed:\n  was %q\n  now %q", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s was left behind", k)
		}
	}
}

func notOK(rep *Report) []Row {
	var out []Row
	for _, r := range rep.Rows {
		if r.Status != StatusOK {
			out = append(out, r)
		}
	}
	return out
}

// TestApplyCheckRevert runs apply → check → revert on a copy of every
// fixture: after apply only what apply cannot fix remains, and after revert
// the tree is byte-identical to the original.
func TestApplyCheckRevert(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			root := copyTree(t, filepath.Join("testdata", name))
			before := treeState(t, root)
			var out bytes.Buffer
			o := Options{Root: root, Target: goldenTarget(), Yes: true, Out: &out}
			res, err := Apply(o)
			if err != nil {
				t.Fatal(err)
			}
			after, err := Check(o)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range notOK(after) {
				switch {
				case name == "override" && strings.HasPrefix(r.Source, "/etc/sysctl.conf"):
					// pinned by a file imtool must not edit: apply warns about it
					if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, r.Name) }) {
						t.Errorf("%s is overridden by %s but apply did not warn", r.Name, r.Source)
					}
				case name == "readonly" && r.Status == StatusReadOnly:
				default:
					t.Errorf("after apply %s is %s: %s", r.Name, r.Status, r.Reason)
				}
			}
			if name == "readonly" && len(res.Changed) != 0 {
				t.Errorf("apply changed %v on a read-only /proc/sys", res.Changed)
			}
			if name == "tuned" && (len(res.Changed) != 0 || res.ExitCode() != 0) {
				t.Errorf("apply on a tuned host changed %v (exit %d)", res.Changed, res.ExitCode())
			}
			rv, err := Revert(o)
			if err != nil {
				t.Fatal(err)
			}
			if rv.ExitCode() != 0 {
				t.Fatalf("revert failed: %v", rv.Failed)
			}
			sameTree(t, before, treeState(t, root))
			rv, err = Revert(o)
			if err != nil || !rv.Nothing {
				t.Errorf("second revert: nothing=%v err=%v, want a harmless no-op", rv.Nothing, err)
			}
		})
	}
}

func TestApplyTwiceKeepsFirstSnapshot(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "fresh"))
	before := treeState(t, root)
	small := goldenTarget()
	small.Conns = 100000 // raises fewer settings than the golden target
	o := Options{Root: root, Target: small, Yes: true}
	if _, err := Apply(o); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(root, "var/lib/imtool/tune-backup.json")
	first, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	o.Target = goldenTarget()
	res, err := Apply(o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.KeptSnapshot {
		t.Error("second apply did not report keeping the first snapshot")
	}
	second, _ := os.ReadFile(snap)
	var s1, s2 Snapshot
	mustJSON(t, first, &s1)
	mustJSON(t, second, &s2)
	if !s1.Created.Equal(s2.Created) || !slices.Equal(s1.Values, s2.Values[:len(s1.Values)]) {
		t.Errorf("second apply rewrote the first snapshot's entries")
	}
	for _, v := range s2.Values {
		if v.Key == "fs.nr_open" && v.Value != "1048576\n" {
			t.Errorf("fs.nr_open saved as %q, want the value from before the first apply", v.Value)
		}
	}
	if _, err := Revert(o); err != nil {
		t.Fatal(err)
	}
	sameTree(t, before, treeState(t, root))
}

func TestApplyDeclinedChangesNothing(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "fresh"))
	before := treeState(t, root)
	var out bytes.Buffer
	_, err := Apply(Options{Root: root, Target: goldenTarget(), In: strings.NewReader("n\n"), Out: &out})
	if !errors.Is(err, ErrDeclined) {
		t.Fatalf("err = %v, want ErrDeclined", err)
	}
	if !strings.Contains(out.String(), "fs.nr_open: 1048576 → 1100520") || !strings.Contains(out.String(), "[y/N]") {
		t.Errorf("the question did not show the plan:\n%s", out.String())
	}
	sameTree(t, before, treeState(t, root))
}

// TestApplyFailuresDoNotStopOthers makes chosen live writes fail the way
// the kernel does and checks each is explained while the rest go through.
func TestApplyFailuresDoNotStopOthers(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "fresh"))
	fail := map[string]error{
		sysctlPath("fs.nr_open"):         syscall.EINVAL,
		sysctlPath("net.core.somaxconn"): syscall.EPERM,
		sysctlPath(portRangeKey):         syscall.EROFS,
	}
	fsys := rootFS{dir: root}
	o := Options{Root: root, Target: goldenTarget(), Yes: true, writeLive: func(name string, data []byte) error {
		if err := fail[name]; err != nil {
			return &fs.PathError{Op: "write", Path: name, Err: err}
		}
		return fsys.put(name, data)
	}}
	res, err := Apply(o)
	if err != nil {
		t.Fatal(err)
	}
	msgs := ""
	for _, e := range res.Failed {
		msgs += e.Error() + "\n"
	}
	for _, want := range []string{
		"cannot set fs.nr_open to 1100520: the kernel rejects the value",
		"cannot raise net.core.somaxconn: permission denied",
		"cannot raise net.ipv4.ip_local_port_range: /proc/sys is read-only (container?): use docker --sysctl or run on the host",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("failures lack %q:\n%s", want, msgs)
		}
	}
	if v, _ := fsys.read(sysctlPath("net.ipv4.tcp_max_syn_backlog")); v != "65535\n" {
		t.Errorf("tcp_max_syn_backlog = %q: a failure elsewhere stopped it", v)
	}
	if res.ExitCode() != 2 {
		t.Errorf("exit %d, want 2", res.ExitCode())
	}
	// What stayed because its write failed is not a change since apply.
	o.writeLive = nil
	rv, err := Revert(o)
	if err != nil || rv.ExitCode() != 0 {
		t.Errorf("revert after failed writes: %v, exit %d, kept %q, failed %v", err, rv.ExitCode(), rv.Kept, rv.Failed)
	}
}

func TestApplyLiveOnlyAndScope(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "fresh"))
	o := Options{Root: root, Target: goldenTarget(), Yes: true, LiveOnly: true, Scopes: []Scope{ScopeNetns}}
	res, err := Apply(o)
	if err != nil {
		t.Fatal(err)
	}
	fsys := rootFS{dir: root}
	if fsys.exists(imtoolSysctlConf) || fsys.exists(imtoolLimitsConf) {
		t.Error("--live-only wrote files")
	}
	if v, _ := fsys.read(sysctlPath("fs.nr_open")); v != "1048576\n" {
		t.Errorf("scope netns changed the host-wide fs.nr_open to %q", v)
	}
	if v, _ := fsys.read(sysctlPath("net.core.somaxconn")); v != "65535\n" {
		t.Errorf("somaxconn = %q, want 65535", v)
	}
	if len(res.Changed) == 0 {
		t.Error("nothing changed")
	}
}

func TestApplyServiceDropIn(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "fresh"))
	o := Options{Root: root, Target: goldenTarget(), Yes: true, Service: "imtool-server"}
	if _, err := Apply(o); err != nil {
		t.Fatal(err)
	}
	got, err := rootFS{dir: root}.read("/etc/systemd/system/imtool-server.service.d/90-imtool.conf")
	if err != nil || !strings.Contains(got, "[Service]\nLimitNOFILE=1100520\n") {
		t.Errorf("drop-in = %q, %v", got, err)
	}
	after, _ := Check(o)
	for _, r := range after.Rows {
		if strings.HasPrefix(r.Name, "LimitNOFILE") && r.Status != StatusOK {
			t.Errorf("%s is %s after apply", r.Name, r.Status)
		}
	}
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// TestRevertKeepsOperatorEdits edits, after apply, the file imtool created
// and a live value imtool set: revert keeps both, says so, restores the
// rest and keeps the snapshot (exit 2), again on a second run; --force then
// restores everything, copying the edited file aside first.
func TestRevertKeepsOperatorEdits(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "fresh"))
	before := treeState(t, root)
	fsys := rootFS{dir: root}
	o := Options{Root: root, Target: goldenTarget(), Yes: true}
	if res, err := Apply(o); err != nil || len(res.Failed) > 0 {
		t.Fatal(err, res.Failed)
	}
	if v, _ := fsys.read(sysctlPath("net.core.somaxconn")); v != "65535\n" {
		t.Fatalf("apply left somaxconn = %q", v)
	}
	conf, err := fsys.read(imtoolSysctlConf)
	if err != nil {
		t.Fatal(err)
	}
	edited := conf + "vm.max_map_count = 262144 # added by hand\n"
	if err := os.WriteFile(fsys.path(imtoolSysctlConf), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fsys.put(sysctlPath("net.core.somaxconn"), []byte("32768\n")); err != nil {
		t.Fatal(err)
	}

	for run := 1; run <= 2; run++ {
		rv, err := Revert(o)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := rv.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		if rv.ExitCode() != 2 || len(rv.Kept) != 2 || len(rv.Failed) != 0 {
			t.Fatalf("revert %d: exit %d, kept %q, failed %v; want exit 2 with two kept", run, rv.ExitCode(), rv.Kept, rv.Failed)
		}
		for _, want := range []string{
			"KEPT      net.core.somaxconn = 32768: changed since apply (apply set 65535; before it was 4096)",
			"KEPT      " + imtoolSysctlConf + ": edited since apply; left as it is (--force copies it to " + imtoolSysctlConf + ".edited-<time>, then deletes it (imtool created it))",
			"`imtool tune revert --force`",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("revert %d output lacks %q:\n%s", run, want, out.String())
			}
		}
		if got, _ := fsys.read(imtoolSysctlConf); got != edited {
			t.Errorf("revert %d changed the edited file to %q", run, got)
		}
		if v, _ := fsys.read(sysctlPath("net.core.somaxconn")); v != "32768\n" {
			t.Errorf("revert %d reset somaxconn to %q", run, v)
		}
		if v, _ := fsys.read(sysctlPath("fs.nr_open")); v != "1048576\n" {
			t.Errorf("revert %d left fs.nr_open = %q, want the value from before apply", run, v)
		}
		if fsys.exists(imtoolLimitsConf) {
			t.Errorf("revert %d left %s, which nobody edited", run, imtoolLimitsConf)
		}
		if !fsys.exists("/var/lib/imtool/tune-backup.json") {
			t.Fatalf("revert %d removed the snapshot with edits kept", run)
		}
	}

	o.Force = true
	rv, err := Revert(o)
	if err != nil || rv.ExitCode() != 0 {
		t.Fatalf("revert --force: %v, exit %d, kept %q, failed %v", err, rv.ExitCode(), rv.Kept, rv.Failed)
	}
	backups := fsys.glob("/etc/sysctl.d", "90-imtool.conf.edited-*")
	if len(backups) != 1 {
		t.Fatalf("revert --force left backups %v, want one", backups)
	}
	if got, _ := fsys.read(backups[0]); got != edited {
		t.Errorf("backup %s = %q, want the edited file", backups[0], got)
	}
	lines := strings.Join(rv.Restored, "\n")
	for _, want := range []string{
		"net.core.somaxconn = 4096 (--force: overwrote 32768, set since apply)",
		"deleted " + imtoolSysctlConf + " (imtool created it); its edits since apply are kept in " + backups[0],
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("revert --force lacks %q:\n%s", want, lines)
		}
	}
	if err := os.Remove(fsys.path(backups[0])); err != nil {
		t.Fatal(err)
	}
	sameTree(t, before, treeState(t, root))
}

// TestRevertAfterHandRevert: an operator who already put an item back as it
// was before apply (deleted imtool's file, reset a value) is not "changed
// since apply": revert completes.
func TestRevertAfterHandRevert(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "fresh"))
	before := treeState(t, root)
	fsys := rootFS{dir: root}
	o := Options{Root: root, Target: goldenTarget(), Yes: true}
	if _, err := Apply(o); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(fsys.path(imtoolSysctlConf)); err != nil {
		t.Fatal(err)
	}
	if err := fsys.put(sysctlPath("net.core.somaxconn"), []byte("4096\n")); err != nil {
		t.Fatal(err)
	}
	rv, err := Revert(o)
	if err != nil || rv.ExitCode() != 0 {
		t.Fatalf("revert: %v, exit %d, kept %q, failed %v", err, rv.ExitCode(), rv.Kept, rv.Failed)
	}
	sameTree(t, before, treeState(t, root))
}
