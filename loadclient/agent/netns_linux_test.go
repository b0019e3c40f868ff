package agent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient/agent"
	"github.com/imtool/imtool/refserver/refservertest"
)

// hosts are three "hosts" made of network namespaces, created and deleted
// by the test: a server host s with the gateway on 10.199.0.1 (on its
// loopback) and two agent hosts a and b, each with its own /30 veth link to
// s (10.199.1.0/30, 10.199.2.0/30) and a default route through it. Nothing
// is added to the namespace the test runs in.
type hosts struct {
	s, a, b string
	bin     string
	dir     string
}

const (
	gatewayAddr = "10.199.0.1"
	agentA      = "10.199.1.2:7070"
	agentB      = "10.199.2.2:7070"
	serverStats = "http://127.0.0.1:9100/stats" // inside s
	coordStats  = "http://127.0.0.1:9300/stats" // inside s
)

func newHosts(t *testing.T) *hosts {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	for _, tool := range []string{"ip", "curl", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	pid := os.Getpid()
	h := &hosts{dir: t.TempDir()}
	for i, p := range []*string{&h.s, &h.a, &h.b} {
		*p = fmt.Sprintf("imtool-agt-%d-%c", pid, "sab"[i])
		if out, err := exec.Command("ip", "netns", "add", *p).CombinedOutput(); err != nil {
			t.Skipf("cannot create a network namespace: %v %s", err, out)
		}
		name := *p
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v %s", name, err, out)
			}
		})
	}
	va, vsa, vb, vsb := fmt.Sprintf("agt%da", pid), fmt.Sprintf("agt%dsa", pid), fmt.Sprintf("agt%db", pid), fmt.Sprintf("agt%dsb", pid)
	for _, args := range [][]string{
		{"link", "add", vsa, "netns", h.s, "type", "veth", "peer", "name", va, "netns", h.a},
		{"link", "add", vsb, "netns", h.s, "type", "veth", "peer", "name", vb, "netns", h.b},
		{"-n", h.s, "link", "set", "lo", "up"},
		{"-n", h.s, "addr", "add", gatewayAddr + "/32", "dev", "lo"},
		{"-n", h.s, "addr", "add", "10.199.1.1/30", "dev", vsa},
		{"-n", h.s, "addr", "add", "10.199.2.1/30", "dev", vsb},
		{"-n", h.s, "link", "set", vsa, "up"},
		{"-n", h.s, "link", "set", vsb, "up"},
		{"-n", h.a, "link", "set", "lo", "up"},
		{"-n", h.a, "addr", "add", "10.199.1.2/30", "dev", va},
		{"-n", h.a, "link", "set", va, "up"},
		{"-n", h.a, "route", "add", "default", "via", "10.199.1.1"},
		{"-n", h.b, "link", "set", "lo", "up"},
		{"-n", h.b, "addr", "add", "10.199.2.2/30", "dev", vb},
		{"-n", h.b, "link", "set", vb, "up"},
		{"-n", h.b, "route", "add", "default", "via", "10.199.2.1"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	bin, err := refservertest.BuildBinary(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	h.bin = bin
	return h
}

// run starts the binary inside namespace ns.
func (h *hosts) run(t *testing.T, ns string, args ...string) *refservertest.Proc {
	t.Helper()
	return refservertest.Start(t, "ip", append([]string{"netns", "exec", ns, h.bin}, args...)...)
}

// get fetches url from inside ns, with the token when not empty.
func (h *hosts) get(ns, method, url, token string) (int, []byte) {
	// -k: the agents' certificate is self-signed; the coordinator pins it.
	args := []string{"netns", "exec", ns, "curl", "-k", "-s", "-m", "2", "-X", method, "-w", "\n%{http_code}"}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	out, _ := exec.Command("ip", append(args, url)...).Output()
	i := strings.LastIndexByte(string(out), '\n')
	if i < 0 {
		return 0, nil
	}
	var code int
	fmt.Sscan(string(out[i+1:]), &code)
	return code, out[:i]
}

func (h *hosts) snapshot(url string) (stats.Snapshot, bool) {
	var s stats.Snapshot
	code, body := h.get(h.s, "GET", url, "")
	return s, code == 200 && json.Unmarshal(body, &s) == nil
}

// waitFor polls cond every 50ms for up to d and returns how long it took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// peers counts the gateway's established connections by client address.
func (h *hosts) peers(t *testing.T) map[string]int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", h.s, "ss", "-Htn", "state", "established", "( sport >= :9000 and sport <= :9003 )").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			m[f[3][:strings.LastIndexByte(f[3], ':')]]++
		}
	}
	return m
}

func exitCode(t *testing.T, p *refservertest.Proc, d time.Duration) int {
	t.Helper()
	err, ok := p.Wait(d)
	if !ok {
		t.Fatalf("still running after %v:\n%s", d, p.Output())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestAgentsAcrossHosts is issue 7's proof on three namespace "hosts".
func TestAgentsAcrossHosts(t *testing.T) {
	h := newHosts(t)
	tokFile := filepath.Join(h.dir, "agent.token")
	h.run(t, h.s, "server", "--listen", "0.0.0.0", "--ports", "9000-9003", "--stats", "127.0.0.1:9100")
	startAgent := func(ns, listen string) *refservertest.Proc {
		return h.run(t, ns, "agent", "--listen", listen, "--token-file", tokFile, "--allow-targets", gatewayAddr+"/32", "--grace", "3s")
	}
	procA := startAgent(h.a, agentA)
	waitFor(t, 10*time.Second, "agent a's token file", func() bool { _, err := os.Stat(tokFile); return err == nil })
	if fi, _ := os.Stat(tokFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(tokFile)
	token := strings.TrimSpace(string(b))
	// Agent a wrote a self-signed certificate beside the token; b, sharing
	// the directory, serves the same one.
	certFile, keyFile := agent.CertFiles(tokFile)
	cert, err := agent.LoadCert(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := agent.Fingerprint(cert.Certificate[0])
	waitFor(t, 10*time.Second, "agent a to log its fingerprint", func() bool {
		return strings.Contains(procA.Output(), "give the coordinator --agent-fingerprint "+fingerprint)
	})
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	procB := startAgent(h.b, agentB)
	for _, ag := range []string{agentA, agentB} {
		waitFor(t, 10*time.Second, "agent "+ag, func() bool { c, _ := h.get(h.s, "GET", "https://"+ag+"/v1/info", token); return c == 200 })
	}
	waitFor(t, 10*time.Second, "the gateway", func() bool { _, ok := h.snapshot(serverStats); return ok })

	swarm := func(t *testing.T, out string, extra ...string) *refservertest.Proc {
		args := []string{"swarm", "--agents", agentA + "," + agentB, "--token-file", tokFile, "--agent-fingerprint", fingerprint, "--target", gatewayAddr + ":9000-9003",
			"--conns", "400", "--rate", "4000", "--heartbeat", "1s", "--tui=false", "--stats", "127.0.0.1:9300", "--out", filepath.Join(h.dir, out)}
		return h.run(t, h.s, append(args, extra...)...)
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tok := range []string{"", "wrong"} {
			if code, _ := h.get(h.s, "POST", "https://"+agentA+"/v1/runs", tok); code != 401 {
				t.Errorf("token %q: %d, want 401", tok, code)
			}
		}
		// The token never travels in clear: plain HTTP gets 400 and no 401.
		if code, body := h.get(h.s, "GET", "http://"+agentA+"/v1/info", token); code != 400 || !strings.Contains(string(body), "HTTPS") {
			t.Errorf("plain HTTP to the agent: %d %s, want 400", code, body)
		}
		p := h.run(t, h.s, "swarm", "--agents", agentA+","+agentB, "--token-file", tokFile, "--agent-fingerprint", fingerprint, "--target", "10.199.1.1:9000", "--conns", "10", "--tui=false", "--stats", "")
		if code := exitCode(t, p, 20*time.Second); code != 2 || !strings.Contains(p.Output(), "--allow-targets") {
			t.Fatalf("target outside --allow-targets: exit %d\n%s", code, p.Output())
		}
		for _, pin := range []string{"", "sha256:" + strings.Repeat("0", 64)} {
			p := h.run(t, h.s, "swarm", "--agents", agentA, "--token-file", tokFile, "--agent-fingerprint", pin, "--target", gatewayAddr+":9000", "--conns", "10", "--tui=false", "--stats", "")
			if code := exitCode(t, p, 20*time.Second); code == 0 || !strings.Contains(p.Output(), "--agent-fingerprint") {
				t.Fatalf("fingerprint %q: exit %d, want a refusal naming --agent-fingerprint\n%s", pin, code, p.Output())
			}
		}
		_, body := h.get(h.s, "GET", "https://"+agentA+"/v1/info", token)
		if strings.Contains(string(body), `"run"`) {
			t.Fatalf("a run was started: %s", body)
		}
		if s, _ := h.snapshot(serverStats); s.Sessions != 0 {
			t.Fatalf("server has %d sessions", s.Sessions)
		}
	})

	t.Run("merged total equals the server's sessions", func(t *testing.T) {
		p := swarm(t, "run1", "--hold", "3s")
		var co stats.Snapshot
		waitFor(t, 15*time.Second, "400 held on the coordinator", func() bool {
			var ok bool
			co, ok = h.snapshot(coordStats)
			return ok && co.Held == 400 && co.Phase == stats.PhaseHold
		})
		srv, _ := h.snapshot(serverStats)
		if srv.Sessions != co.Held {
			t.Errorf("server sessions %d, coordinator's merged total %d", srv.Sessions, co.Held)
		}
		if len(co.Shards) != 2 || co.Shards[0].ID != agentA || co.Shards[1].ID != agentB || co.Shards[0].Held != 200 || co.Shards[1].Held != 200 {
			t.Errorf("per-host parts: %+v", co.Shards)
		}
		if got := h.peers(t); got["10.199.1.2"] != 200 || got["10.199.2.2"] != 200 {
			t.Errorf("the gateway's connections by client host: %v", got)
		}
		if code := exitCode(t, p, 20*time.Second); code != 0 {
			t.Fatalf("exit %d\n%s", code, p.Output())
		}
		if !strings.Contains(p.Output(), "per agent host") {
			t.Errorf("no per-host summary:\n%s", p.Output())
		}
		raw, err := os.ReadFile(filepath.Join(h.dir, "run1", "run.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Options struct {
				Agents []struct {
					Agent string
					Held  int64
					UIDs  [2]uint64
				}
			}
			Summary stats.Summary
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		if a := rec.Options.Agents; len(a) != 2 || a[0].Agent != agentA || a[0].Held != 200 || a[1].Held != 200 || a[1].UIDs != [2]uint64{201, 400} || rec.Summary.Held != 400 {
			t.Errorf("record: %+v, held %d", a, rec.Summary.Held)
		}
		waitFor(t, 10*time.Second, "the connections to close", func() bool { s, _ := h.snapshot(serverStats); return s.Sessions == 0 })
	})

	t.Run("an agent killed mid-hold is lost within 3s", func(t *testing.T) {
		p := swarm(t, "run2", "--hold", "4s")
		waitFor(t, 15*time.Second, "400 held", func() bool { s, _ := h.snapshot(coordStats); return s.Held == 400 && s.Phase == stats.PhaseHold })
		procB.Signal(syscall.SIGKILL)
		took := waitFor(t, 5*time.Second, "agent b marked lost", func() bool {
			s, ok := h.snapshot(coordStats)
			return ok && len(s.Shards) == 2 && s.Shards[1].Down
		})
		t.Logf("agent b marked lost %v after SIGKILL", took.Round(time.Millisecond))
		if took > 3*time.Second {
			t.Errorf("lost after %v, want ≤ 3s", took)
		}
		s, _ := h.snapshot(coordStats)
		if s.Held != 200 || s.Shards[0].Down || s.Shards[1].Held != 200 {
			t.Errorf("after the loss: held %d, parts %+v", s.Held, s.Shards)
		}
		if code := exitCode(t, p, 20*time.Second); code != 1 || !strings.Contains(p.Output(), "LOST "+agentB) {
			t.Fatalf("exit %d, want 1 with agent b LOST:\n%s", code, p.Output())
		}
		waitFor(t, 10*time.Second, "the connections to close", func() bool { s, _ := h.snapshot(serverStats); return s.Sessions == 0 })
	})

	t.Run("agents stop when the coordinator dies", func(t *testing.T) {
		startAgent(h.b, agentB)
		waitFor(t, 10*time.Second, "agent b again", func() bool { c, _ := h.get(h.s, "GET", "https://"+agentB+"/v1/info", token); return c == 200 })
		p := swarm(t, "run3", "--hold", "60s")
		waitFor(t, 15*time.Second, "400 sessions", func() bool { s, _ := h.snapshot(serverStats); return s.Sessions == 400 })
		p.Signal(syscall.SIGKILL)
		took := waitFor(t, 10*time.Second, "the agents to close their connections", func() bool { s, _ := h.snapshot(serverStats); return s.Sessions == 0 })
		t.Logf("sessions fell to 0 %v after the coordinator was killed (grace 3s)", took.Round(time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("connections closed %v after the coordinator died; grace is 3s", took)
		}
		for _, ag := range []string{agentA, agentB} {
			code, body := h.get(h.s, "GET", "https://"+ag+"/v1/runs/current", token)
			if code != 200 || !strings.Contains(string(body), "silent") {
				t.Errorf("agent %s after the coordinator died: %d %s", ag, code, body)
			}
		}
	})
}
