package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/refserver"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// `imtool bench --conns 1000000` on a host that cannot hold it refuses up
// front — exit 2, nothing started, no run record — naming every reason
// with its fix. The host is a fake /proc: 4 GB available and fs.file-max
// at 1,000,000.
func TestBenchRefusesUpFront(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(fixture("fresh"))); err != nil {
		t.Fatal(err)
	}
	for rel, v := range map[string]string{
		"proc/meminfo":         "MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n",
		"proc/sys/fs/file-max": "1000000\n",
	} {
		if err := os.WriteFile(filepath.Join(root, rel), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "run")
	out, err := exec.Command(rt.Binary(t), "bench", "--root", root, "--conns", "1000000", "--tui=false", "--out", dir).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2:\n%s", err, out)
	}
	for _, want := range []string{
		"this host cannot hold 1000000 connections",
		"only 3.8 GiB is available: use --conns 4", // the memory and the size that fits
		"fs.file-max is 1000000", "imtool tune apply --role both --conns 1000000",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "starting a dispatcher") {
		t.Errorf("services were started before the refusal:\n%s", out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run left %s (%v)", dir, err)
	}
}

// TestGatewayIdleTimeout: the bench's gateway never closes a session the
// swarm's heartbeat keeps alive, nor, without heartbeats, any session.
func TestGatewayIdleTimeout(t *testing.T) {
	for _, c := range []struct{ heartbeat, want time.Duration }{
		{10 * time.Second, refserver.DefaultIdleTimeout},
		{60 * time.Second, 180 * time.Second},
		{0, 1000 * time.Hour},
	} {
		if got := gatewayIdleTimeout(c.heartbeat); got != c.want {
			t.Errorf("heartbeat %v: idle timeout %v, want %v", c.heartbeat, got, c.want)
		}
	}
}

// A bad --fault is refused up front: exit 2, the reason and the grammar,
// nothing started.
func TestBenchRefusesBadFaults(t *testing.T) {
	bin := rt.Binary(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fault", "kill-gateway@3s"}, "which gateway shard? add :N"},
		{[]string{"--fault", "stop-gateway:0@3s"}, "how long stopped?"},
		{[]string{"--fault", "kill-gateway:0@40s", "--hold", "30s"}, "comes at 40s into a hold of 30s"},
		{[]string{"--fault", "kill-gateway:3@1s", "--gateway-procs", "3"}, "the gateway has 3 shards (0 to 2)"},
		{[]string{"--gateway-procs", "none"}, `--gateway-procs "none"`},
	} {
		out, err := exec.Command(bin, append([]string{"bench", "--conns", "100", "--tui=false", "--stats", ""}, tt.args...)...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
			t.Errorf("bench %v: %v\n%s\nwant exit 2 and %q", tt.args, err, out, tt.want)
		}
		if strings.Contains(string(out), "starting a dispatcher") {
			t.Errorf("bench %v started services before refusing:\n%s", tt.args, out)
		}
	}
}
