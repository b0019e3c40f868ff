package tuner

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The live test applies the namespaced settings for real, inside a network
// namespace it creates, by re-running this test binary there (TestNetnsChild)
// with a scratch root whose /proc is the real one. Host-wide settings are
// never written: apply runs with --scope netns.

const netnsStepEnv = "IMTOOL_TUNE_NETNS_STEP" // apply or revert, in the child

var netnsKeys = []string{portRangeKey, reservedPortsKey, "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets"}

// hostKeys must not move, whatever happens in the namespace.
var hostKeys = append([]string{"fs.nr_open", "fs.file-max", "fs.epoll.max_user_watches"}, netnsKeys...)

func netnsTarget() Target {
	return Target{Role: RoleBoth, Conns: 400000, Ports: portList(30000, 20), SourceIPs: 1, ServerIPs: 1, Headroom: DefaultHeadroom}
}

func TestNetnsLive(t *testing.T) {
	if os.Getenv(netnsStepEnv) != "" {
		t.Skip("running as the child")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs `ip` (iproute2) to create a network namespace")
	}
	name := fmt.Sprintf("imtool-tune-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("cannot delete network namespace %s: %v: %s", name, err, out)
		}
	})
	host := readKeys(t, "")
	inside := readKeys(t, name)

	root := t.TempDir()
	if err := os.Symlink("/proc", filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	child(t, name, root, "apply")
	got := readKeys(t, name)
	for k, want := range map[string]string{
		portRangeKey:                   "21000 60999",
		reservedPortsKey:               "30000-30019",
		"net.core.somaxconn":           "65535",
		"net.ipv4.tcp_max_syn_backlog": "65535",
		"net.ipv4.tcp_max_tw_buckets":  "400000",
	} {
		if got[k] != want {
			t.Errorf("inside the namespace after apply, %s = %q, want %q", k, got[k], want)
		}
	}
	assertKeys(t, "on the host after apply", host, readKeys(t, ""))
	if conf, err := os.ReadFile(filepath.Join(root, "etc/sysctl.d/90-imtool.conf")); err != nil || !strings.Contains(string(conf), "net.core.somaxconn = 65535") {
		t.Errorf("scratch root's 90-imtool.conf = %q, %v", conf, err)
	}
	child(t, name, root, "revert")
	assertKeys(t, "inside the namespace after revert", inside, readKeys(t, name))
	assertKeys(t, "on the host after revert", host, readKeys(t, ""))
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("revert left %d entries in the scratch root, want only proc", len(entries))
	}
}

// TestNetnsChild is TestNetnsLive's other half, run inside the namespace.
func TestNetnsChild(t *testing.T) {
	step := os.Getenv(netnsStepEnv)
	if step == "" {
		t.Skip("only runs inside TestNetnsLive's namespace")
	}
	o := Options{Root: os.Getenv("IMTOOL_TUNE_NETNS_ROOT"), Target: netnsTarget(), Scopes: []Scope{ScopeNetns}, Yes: true}
	switch step {
	case "apply":
		res, err := Apply(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) > 0 {
			t.Fatalf("apply failed: %v", res.Failed)
		}
		if !res.Before.Facts.ChildNetns {
			t.Error("check did not notice the child network namespace")
		}
	case "revert":
		res, err := Revert(o)
		if err != nil || res.ExitCode() != 0 {
			t.Fatalf("revert: %v %v", err, res.Failed)
		}
	}
}

func child(t *testing.T, netns, root, step string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", netns, exe, "-test.run=^TestNetnsChild$", "-test.v")
	cmd.Env = append(os.Environ(), netnsStepEnv+"="+step, "IMTOOL_TUNE_NETNS_ROOT="+root)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNetnsChild") {
		t.Fatalf("%s inside %s: %v\n%s", step, netns, err, out)
	}
}

// readKeys reads hostKeys on the host (netns "") or inside a namespace.
func readKeys(t *testing.T, netns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range hostKeys {
		args := []string{"cat", sysctlPath(k)}
		if netns != "" {
			args = append([]string{"ip", "netns", "exec", netns}, args...)
		}
		b, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		out[k] = strings.Join(strings.Fields(string(b)), " ")
	}
	return out
}

func assertKeys(t *testing.T, where string, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s, %s = %q, want %q", where, k, got[k], v)
		}
	}
}
