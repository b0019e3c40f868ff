package bench

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// The namespace's TCP hash has a bucket per socket of the run, both ends,
// as a power of two the kernel accepts.
func TestEhashEntries(t *testing.T) {
	for _, c := range []struct{ conns, want int }{
		{1000, 1 << 16},
		{100000, 1 << 18},
		{1000000, 1 << 21},
		{100000000, 1 << 24},
	} {
		if got := ehashEntries(c.conns); got != c.want {
			t.Errorf("%d connections: %d buckets, want %d", c.conns, got, c.want)
		}
	}
}

// Without root, `imtool bench --netns` refuses with the fix, exit 2, and
// starts nothing.
func TestNetnsNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs the binary as nobody, which needs root")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // nobody must reach the binary
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := rt.BuildBinary(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "bench", "--netns", "--conns", "1000", "--tui=false", "--out", filepath.Join(dir, "run"))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "run it as root") {
		t.Fatalf("as nobody: %v\n%s\nwant exit 2 and the fix", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "run")); !os.IsNotExist(err) {
		t.Errorf("a run directory was written: %v", err)
	}
}
