//go:build linux

package loadclient

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// The helper process: a test binary re-executed with IMTOOL_LC_HELPER set
// runs one scenario and prints the swarm's final snapshot as JSON.
func TestMain(m *testing.M) {
	if mode := os.Getenv("IMTOOL_LC_HELPER"); mode != "" {
		if mode == "delayserver" {
			os.Exit(delayServerMain())
		}
		os.Exit(helper(mode))
	}
	flag.Parse()
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func helper(mode string) int {
	conns, _ := strconv.Atoi(os.Getenv("IMTOOL_LC_CONNS"))
	o := Options{Conns: conns, Proto: ProtoRaw, Hold: 200 * time.Millisecond, Procs: 1, Loops: 1}
	var ln net.Listener
	if t := os.Getenv("IMTOOL_LC_TARGET"); t != "" {
		o.Targets = []string{t}
	} else { // our own listener; port 0 takes a port of the local range
		var err error
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		o.Targets = []string{ln.Addr().String()}
	}
	if s := os.Getenv("IMTOOL_LC_SOURCES"); s != "" {
		o.SourceIPs, _ = ParseSourceIPs(s)
	}
	sw, err := New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if nf := os.Getenv("IMTOOL_LC_NOFILE"); nf != "" { // lowered after the plan, as a prlimit on a running process would
		n, _ := strconv.ParseUint(nf, 10, 64)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	if err := sw.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := struct {
		Snap  stats.Snapshot
		Held  int64
		Plan  string
		Where []ErrorCount
	}{sw.Final(), sw.HeldAtEnd(), sw.Plan().Describe(), sw.ErrorsBy()}
	_ = json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

type helperResult struct {
	Snap  stats.Snapshot
	Held  int64
	Plan  string
	Where []ErrorCount
}

func runHelper(t *testing.T, wrap []string, env ...string) helperResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string(nil), wrap...), exe, "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %v: %v\n%s", args, err, stderr.String())
	}
	var r helperResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("helper output %q: %v\n%s", out, err, stderr.String())
	}
	return r
}

// TestEMFILE lowers RLIMIT_NOFILE of a child process below what its plan
// needs: the connects past the limit fail with EMFILE, counted as such.
func TestEMFILE(t *testing.T) {
	srv := newTestServer(t, 1, false)
	const n, limit = 300, 120
	r := runHelper(t, nil, "IMTOOL_LC_HELPER=emfile", "IMTOOL_LC_CONNS="+strconv.Itoa(n),
		"IMTOOL_LC_TARGET="+srv.targets()[0], "IMTOOL_LC_NOFILE="+strconv.Itoa(limit))
	s := r.Snap
	emfile := s.Errors[stats.ErrMFile]
	if emfile == 0 || r.Held+emfile != n || r.Held > limit {
		t.Fatalf("held %d emfile %d errors %v: want held < %d and held + emfile = %d", r.Held, emfile, s.Errors, limit, n)
	}
	if ex := s.ErrorExample[stats.ErrMFile]; !strings.Contains(ex, "EMFILE") {
		t.Fatalf("example %q should name EMFILE", ex)
	}
	t.Logf("held %d, emfile %d: %s — fix: %s", r.Held, emfile, s.ErrorExample[stats.ErrMFile], stats.Fix(stats.ErrMFile))
}

// netns creates a network namespace for the test, deleted at cleanup even
// on failure, with loopback up and the port range given.
func netns(t *testing.T, portRange string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is not installed")
	}
	name := fmt.Sprintf("imtool-lc-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", name, err, out)
		}
	})
	for _, args := range [][]string{
		{"-n", name, "link", "set", "lo", "up"},
		{"netns", "exec", name, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=" + portRange},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	return name
}

// TestEADDRNOTAVAIL runs a swarm inside a namespace whose local port range
// has 10 ports, one of them taken by the server's own listener: the plan
// allows 10 connections from one source (and warns), the kernel finds 9
// ports, the tenth connect fails with EADDRNOTAVAIL.
func TestEADDRNOTAVAIL(t *testing.T) {
	ns := netns(t, "40000 40009")
	r := runHelper(t, []string{"ip", "netns", "exec", ns}, "IMTOOL_LC_HELPER=eaddrnotavail",
		"IMTOOL_LC_CONNS=10", "IMTOOL_LC_SOURCES=127.0.0.2")
	s := r.Snap
	if !strings.Contains(r.Plan, "port range 40000-40009") || !strings.Contains(r.Plan, "warning: slow plan") {
		t.Fatalf("plan inside the namespace: %s", r.Plan)
	}
	if s.Errors[stats.ErrAddrNotAvail] != 1 || r.Held != 9 {
		t.Fatalf("held %d errors %v, want 9 held and 1 eaddrnotavail", r.Held, s.Errors)
	}
	ex := s.ErrorExample[stats.ErrAddrNotAvail]
	if !strings.Contains(ex, "EADDRNOTAVAIL") || !strings.Contains(ex, "127.0.0.2") {
		t.Fatalf("example %q", ex)
	}
	if len(r.Where) != 2 || r.Where[1].Where != "source 127.0.0.2" {
		t.Fatalf("errors by where: %+v", r.Where)
	}
	t.Logf("%s — fix: %s", ex, stats.Fix(stats.ErrAddrNotAvail))
}
