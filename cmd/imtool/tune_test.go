package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(name string) string { return filepath.Join("..", "..", "tuner", "testdata", name) }

func TestTuneExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"tuned host is ok", []string{"tune", "check", "--root", fixture("tuned"), "--source-ips", "2"}, 0},
		{"fresh host needs tuning", []string{"tune", "check", "--root", fixture("fresh"), "--json"}, 1},
		{"one port above 4096 is that port", []string{"tune", "check", "--root", fixture("tuned"), "--role", "server", "--ports", "9000"}, 0},
		{"no /proc/sys cannot be checked", []string{"tune", "check", "--root", t.TempDir()}, 3},
		{"bad role", []string{"tune", "check", "--root", fixture("fresh"), "--role", "gateway"}, 2},
		{"bad ports", []string{"tune", "check", "--root", fixture("fresh"), "--ports", "9000-80"}, 2},
		{"apply --json without --yes", []string{"tune", "apply", "--root", fixture("tuned"), "--json"}, 2},
		{"apply on a tuned host changes nothing", []string{"tune", "apply", "--root", fixture("tuned"), "--source-ips", "2", "--yes"}, 0},
		{"live-only and persist-only", []string{"tune", "apply", "--root", fixture("fresh"), "--live-only", "--persist-only"}, 2},
		{"revert without a snapshot is harmless", []string{"tune", "revert", "--root", t.TempDir()}, 0},
		{"windows script", []string{"tune", "script", "--os", "windows", "--role", "client"}, 0},
		{"unknown script OS", []string{"tune", "script", "--os", "plan9"}, 2},
		{"unknown subcommand", []string{"tune", "chek"}, 2},
		{"help", []string{"tune", "apply", "--help"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(append([]string{"imtool"}, tc.args...)); got != tc.want {
				t.Errorf("exit %d, want %d", got, tc.want)
			}
		})
	}
}

// runOut runs the CLI with its output and errors captured together,
// returning the exit code.
func runOut(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := runTo(append([]string{"imtool"}, args...), &out, &out)
	return code, out.String()
}

// TestTuneRevertKeepsHandEdits runs apply, edits the sysctl file imtool
// wrote and a live value by hand, and checks revert keeps both with exit 1
// (not done: the snapshot stays) and says so, and revert --force restores them with exit 0.
func TestTuneRevertKeepsHandEdits(t *testing.T) {
	root := filepath.Join(t.TempDir(), "host")
	if err := os.CopyFS(root, os.DirFS(fixture("fresh"))); err != nil {
		t.Fatal(err)
	}
	if code, out := runOut(t, "tune", "apply", "--root", root, "--source-ips", "2", "--yes"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	conf := filepath.Join(root, "etc/sysctl.d/90-imtool.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("vm.swappiness = 1\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	somaxconn := filepath.Join(root, "proc/sys/net/core/somaxconn")
	if err := os.WriteFile(somaxconn, []byte("1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runOut(t, "tune", "revert", "--root", root)
	if code != exitShort || !strings.Contains(out, "KEPT      net.core.somaxconn = 1000: changed since apply") ||
		!strings.Contains(out, "KEPT      /etc/sysctl.d/90-imtool.conf: edited since apply") {
		t.Fatalf("revert: exit %d, want %d with both edits kept:\n%s", code, exitShort, out)
	}
	if data, _ := os.ReadFile(conf); !strings.Contains(string(data), "vm.swappiness = 1\n") {
		t.Errorf("revert lost the hand edit: %q", data)
	}
	code, out = runOut(t, "tune", "revert", "--root", root, "--force")
	if code != 0 || !strings.Contains(out, "overwrote 1000") || !strings.Contains(out, "its edits since apply are kept in /etc/sysctl.d/90-imtool.conf.edited-") {
		t.Fatalf("revert --force: exit %d\n%s", code, out)
	}
	if v, _ := os.ReadFile(somaxconn); string(v) != "4096\n" {
		t.Errorf("somaxconn after revert --force = %q, want 4096", v)
	}
	if _, err := os.Stat(conf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("revert --force left %s: %v", conf, err)
	}
}

// tune check names the host's per-CPU packet backlog, which overflowed in
// million-connection runs (softnet_stat drops), with what it needs.
func TestTuneCheckNamesNetdevBacklog(t *testing.T) {
	code, out, _ := imtoolRun(t, "tune", "check", "--root", fixture("fresh"), "--conns", "1000000")
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "net.core.netdev_max_backlog") {
			row = l
		}
	}
	if !strings.Contains(row, "1000") || !strings.Contains(row, "≥ 65536") || !strings.Contains(row, "low") || !strings.Contains(out, "softnet_stat") {
		t.Errorf("tune check does not say net.core.netdev_max_backlog 1000 is low for a million (≥ 65536):\n%s", out)
	}
}
