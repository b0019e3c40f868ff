package tuner

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixtures are the host trees under testdata.
var fixtures = []string{
	"fresh",    // a fresh Debian 12 host: defaults, conntrack not loaded
	"tuned",    // tuned by hand for the target, outside imtool's files
	"override", // /etc/sysctl.conf pins low values and is read last at boot
	"readonly", // a container: /proc/sys read-only, no CAP_SYS_RESOURCE
}

// goldenTarget is the target every fixture is checked against.
func goldenTarget() Target {
	return Target{Role: RoleBoth, Conns: 1000000, Ports: portList(9000, 20), SourceIPs: 2, ServerIPs: 1, Headroom: DefaultHeadroom}
}

func portList(base, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(base + i)
	}
	return out
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestCheckGolden(t *testing.T) {
	wantExit := map[string]int{"fresh": 2, "tuned": 0, "override": 2, "readonly": 2}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			rep, err := Check(Options{Root: filepath.Join("testdata", name), Target: goldenTarget()})
			if err != nil {
				t.Fatal(err)
			}
			var text, js bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden(t, "check-"+name+".txt", text.Bytes())
			golden(t, "check-"+name+".json", js.Bytes())
			if got := rep.ExitCode(); got != wantExit[name] {
				t.Errorf("exit code %d, want %d", got, wantExit[name])
			}
		})
	}
}

func TestCheckNoProcSys(t *testing.T) {
	_, err := Check(Options{Root: t.TempDir(), Target: goldenTarget()})
	if err == nil {
		t.Fatal("check of an empty root succeeded; want an error (exit 1)")
	}
}

func TestCheckRejectsBadTarget(t *testing.T) {
	tg := goldenTarget()
	tg.Role = "gateway"
	if _, err := Check(Options{Root: filepath.Join("testdata", "fresh"), Target: tg}); err == nil {
		t.Fatal("want an error for --role gateway")
	}
}

func TestChildNetnsByConntrackMode(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "readonly"))
	if err := os.Chmod(filepath.Join(root, "proc/sys/net/netfilter/nf_conntrack_max"), 0o444); err != nil {
		t.Fatal(err)
	}
	if !childNetns(rootFS{dir: root}) {
		t.Error("a read-only nf_conntrack_max should reveal a child network namespace")
	}
	if childNetns(rootFS{dir: filepath.Join("testdata", "fresh")}) {
		t.Error("the fresh host is not in a child network namespace")
	}
}

func TestProcSysReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo string
		want            bool
	}{
		{"host", "23 22 0:21 / /proc rw,relatime - proc proc rw\n", false},
		{"docker", "601 600 0:58 / /proc rw,nosuid - proc proc rw\n612 601 0:58 /sys /proc/sys ro,nosuid - proc proc rw\n", true},
		{"ro proc", "601 600 0:58 / /proc ro,nosuid - proc proc ro\n", true},
		{"none", "", false},
	} {
		if got := procSysReadOnly(tc.mountinfo); got != tc.want {
			t.Errorf("%s: read-only = %v, want %v", tc.name, got, tc.want)
		}
	}
}
