//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"

	"github.com/imtool/imtool/internal/stats"
)

// These tests run the built binary: `imtool server` as the gateway and
// `imtool swarm` against it, on loopback ports nobody else uses, or inside
// a network namespace the test creates and deletes.

// TestMain removes the binary the tests built (rt.Binary).
func TestMain(m *testing.M) {
	code := m.Run()
	rt.RemoveBinary()
	os.Exit(code)
}

// proc is a process of the binary, killed at cleanup if still running.
type proc struct {
	cmd  *exec.Cmd
	out  *lockedBuf
	done chan struct{}
	err  error
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &lockedBuf{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // our own group: the kill takes its shards too
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(name), strings.Join(args, " "), tail(p.out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// wait waits up to d for the process and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s did not end within %v:\n%s", p.cmd.Path, d, tail(p.out.String(), 4000))
	}
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errorsAs(p.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.cmd.Path, p.err)
	return -1
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// freeBase finds n consecutive free loopback ports below the local port
// range, so the kernel never hands them out as source ports.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for base := 21000 + (os.Getpid()%200)*50; base < 32000; base += n + 7 {
		ok := true
		var lns []net.Listener
		for p := base; p < base+n; p++ {
			ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port block")
	return 0
}

// ssCount counts established TCP sockets whose source port is in [lo, hi]:
// the gateway's side of the swarm's connections.
func ssCount(t *testing.T, lo, hi int) int {
	t.Helper()
	out, err := exec.Command("ss", "-Htn", "state", "established", fmt.Sprintf("( sport >= :%d and sport <= :%d )", lo, hi)).Output()
	if err != nil {
		t.Skipf("ss: %v", err)
	}
	return bytes.Count(out, []byte("\n"))
}

func readRecord(t *testing.T, dir string) (stats.Record, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec stats.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	return rec, raw
}

func TestSwarmUsageAndRefusals(t *testing.T) {
	bin := rt.Binary(t)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--proto", "http"}, 2, `--proto "http": give imtool, raw, ws, ws+imtool or mqtt`},
		{[]string{"--procs", "zero"}, 2, "--procs"},
		{[]string{"--source-ips", "127.0.0.9-127.0.0.2"}, 2, "runs backwards"},
		{[]string{"--target", "10.255.255.1:9000", "--conns", "30000"}, 2,
			"needs ≥ 3 source×port pairs to stay under half the port range; you have 1: add `--source-ips` with ≥ 3 addresses of this host, or widen the range with `imtool tune apply --role client`"},
		{[]string{"--conns", "19990", "--procs", "1"}, 2, "use --procs auto"},
		{[]string{"--backoff-jitter", "decorrelated"}, 2, `--backoff-jitter "decorrelated": give full, equal or none`},
		{[]string{"--backoff-min", "2s", "--backoff-max", "1s"}, 2, "--backoff-max 1s is below --backoff-min 2s"},
		{[]string{"--churn", "5"}, 2, `--churn "5": no /s, /min or /h`},
		{[]string{"--churn", "1/s", "--churn-burst", "-1s"}, 2, "--churn-burst -1s"},
		{[]string{"--proto", "mqtt", "--msg-rate", "10"}, 2, "--msg-rate with --proto mqtt needs a topic: give --publish"},
		{[]string{"--proto", "mqtt", "--qos", "3", "--publish", "t"}, 2, "--qos 3: give 0, 1 or 2"},
		{[]string{"--proto", "mqtt", "--mqtt-version", "3"}, 2, `--mqtt-version "3": give 3.1.1 or 5`},
	} {
		out, err := exec.Command(bin, append([]string{"swarm", "--stats", "", "--tui=false"}, tt.args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tt.code || !strings.Contains(string(out), tt.want) {
			t.Errorf("swarm %v: exit %d, output:\n%s\nwant exit %d and %q", tt.args, code, out, tt.code, tt.want)
		}
	}
	out, _ := exec.Command(bin, "swarm", "--help").CombinedOutput()
	for _, flag := range []string{"--target", "--ports", "--base-port", "--conns", "--rate", "--source-ips", "--proto", "--uid-base",
		"--auth-secret", "--heartbeat", "--msg-rate", "--payload", "--hold", "--close", "--reconnect", "--connect-timeout",
		"--login-timeout", "--max-inflight", "--procs", "--engine", "--out", "--stats", "--tui", "--ws-path", "--header",
		"--ws-subprotocol", "--payload-file", "--ws-binary", "--tls", "--tls-server-name", "--tls-ca", "--tls-insecure", "--tls-cert",
		"--tls-key", "--tls-min-version", "--tls-resume", "--tls-groups", "EXIT STATUS",
		"--backoff-min", "--backoff-max", "--backoff-jitter", "--churn", "--churn-burst"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
}

func TestSwarmConnRefusedExitCode(t *testing.T) {
	bin := rt.Binary(t)
	base := freeBase(t, 2) // nothing listens there
	dir := t.TempDir()
	p := startProc(t, bin, "swarm", "--base-port", strconv.Itoa(base), "--ports", "2", "--conns", "50", "--procs", "1",
		"--hold", "100ms", "--stats", "", "--tui=false", "--out", dir)
	if code := p.wait(t, 30*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	out := p.out.String()
	for _, want := range []string{"econnrefused × 50", stats.Fix(stats.ErrConnRefused), "held 0 of 50 requested", fmt.Sprintf("port %d", base)} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rec, _ := readRecord(t, dir)
	if rec.Summary.Errors[stats.ErrConnRefused] != 50 || !rec.Complete {
		t.Fatalf("record: errors %v complete %v", rec.Summary.Errors, rec.Complete)
	}
}

// 19,000 connections from one process against the reference gateway: all
// logged in and held, the same number in the swarm, the gateway and ss;
// heartbeats answered; every message ACKed and DELIVERed.
func TestSwarm19kOneProcess(t *testing.T) {
	bin := rt.Binary(t)
	base := freeBase(t, 22)
	srvStats := fmt.Sprintf("127.0.0.1:%d", base+20)
	swStats := fmt.Sprintf("127.0.0.1:%d", base+21)
	startProc(t, bin, "server", "--listen", "127.0.0.1", "--base-port", strconv.Itoa(base), "--ports", "20", "--stats", srvStats)
	rt.WaitStats(t, "http://"+srvStats+"/stats", 10*time.Second, "the gateway", func(stats.Snapshot) bool { return true })

	const n = 19000
	dir := t.TempDir()
	sw := startProc(t, bin, "swarm", "--base-port", strconv.Itoa(base), "--ports", "20", "--conns", strconv.Itoa(n),
		"--procs", "1", "--rate", "20000", "--hold", "6s", "--heartbeat", "2s", "--msg-rate", "1000",
		"--stats", swStats, "--tui=false", "--out", dir)
	s := rt.WaitStats(t, "http://"+swStats+"/stats", 60*time.Second, "all held", func(s stats.Snapshot) bool {
		return s.Phase == stats.PhaseHold && s.Held == n
	})
	srv := rt.WaitStats(t, "http://"+srvStats+"/stats", 5*time.Second, "server sessions", func(s stats.Snapshot) bool { return s.Sessions == n })
	if got := ssCount(t, base, base+19); got != n {
		t.Errorf("ss counts %d established at the gateway's ports, want %d", got, n)
	}
	t.Logf("held %d, gateway sessions %d, ramp connect rate %.0f/s", s.Held, srv.Sessions, s.ConnectRate)
	if code := sw.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("swarm exit %d", code)
	}
	rec, raw := readRecord(t, dir)
	sum := rec.Summary
	if sum.Requested != n || sum.Established != n || sum.Held != n || sum.Dropped != 0 || len(sum.Errors) != 0 || !rec.Complete {
		t.Fatalf("summary %+v complete %v", sum, rec.Complete)
	}
	if sum.Pings == 0 || sum.Pongs < sum.Pings-n {
		t.Errorf("pings %d pongs %d", sum.Pings, sum.Pongs)
	}
	last := rec.Series[len(rec.Series)-1].Swarm
	if sum.Sent < 3000 || sum.Acked != sum.Sent || last.Acks["lost"] != 0 || sum.Delivered != last.Acks["delivered"] {
		t.Errorf("messages: sent %d acked %d delivered %d acks %v: every SEND must be ACKed, every delivered ACK DELIVERed",
			sum.Sent, sum.Acked, sum.Delivered, last.Acks)
	}
	summary := raw["summary"].(map[string]any)
	for _, k := range []string{"requested", "established", "held", "dropped", "ramp_seconds", "connect_rate_mean", "client_rss_bytes", "errors"} {
		if _, ok := summary[k]; !ok {
			t.Errorf("run.json summary lacks %q", k)
		}
	}
	if rec.Options["conns"] == nil || rec.Environment.Kernel == "" || rec.Environment.PortRange[1] == 0 || rec.Environment.NofileHard == 0 {
		t.Errorf("record options %v environment %+v", rec.Options, rec.Environment)
	}
	t.Logf("ramp %.2fs, %.0f conn/s mean; client %.0f B/conn; hb p99 %.1fms; ack p99 %.1fms; deliver p99 %.1fms",
		sum.RampSeconds, sum.ConnectRateMean, sum.ClientBytesPer, sum.Latency["heartbeat"].P99*1e3, sum.Latency["ack"].P99*1e3, sum.Latency["deliver"].P99*1e3)
}

// 60,000 connections with --procs auto (4 processes here) against a
// sharded gateway: the only heavy test; bounded to about a minute.
func TestSwarm60kProcsAuto(t *testing.T) {
	bin := rt.Binary(t)
	base := freeBase(t, 22)
	srvStats := fmt.Sprintf("127.0.0.1:%d", base+20)
	swStats := fmt.Sprintf("127.0.0.1:%d", base+21)
	const n = 60000
	startProc(t, bin, "server", "--listen", "127.0.0.1", "--base-port", strconv.Itoa(base), "--ports", "20",
		"--procs", "auto", "--max-conns", strconv.Itoa(n), "--stats", srvStats)
	rt.WaitStats(t, "http://"+srvStats+"/stats", 20*time.Second, "the gateway shards", func(s stats.Snapshot) bool {
		return len(s.Shards) > 1 && s.Dispatcher == "up"
	})
	dir := t.TempDir()
	sw := startProc(t, bin, "swarm", "--base-port", strconv.Itoa(base), "--ports", "20", "--conns", strconv.Itoa(n),
		"--procs", "auto", "--rate", "15000", "--hold", "8s", "--heartbeat", "5s", "--msg-rate", "1000",
		"--stats", swStats, "--tui=false", "--out", dir)
	s := rt.WaitStats(t, "http://"+swStats+"/stats", 90*time.Second, "all held", func(s stats.Snapshot) bool {
		return s.Phase == stats.PhaseHold && s.Held == n
	})
	if len(s.Shards) != 4 {
		t.Errorf("%d swarm processes, want 4 (RLIMIT_NOFILE 20000)", len(s.Shards))
	}
	srv := rt.WaitStats(t, "http://"+srvStats+"/stats", 10*time.Second, "server sessions", func(s stats.Snapshot) bool { return s.Sessions == n })
	if got := ssCount(t, base, base+19); got != n {
		t.Errorf("ss counts %d established at the gateway's ports, want %d", got, n)
	}
	t.Logf("held %d in %d processes, gateway sessions %d in %d shards", s.Held, len(s.Shards), srv.Sessions, len(srv.Shards))
	if code := sw.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("swarm exit %d", code)
	}
	rec, _ := readRecord(t, dir)
	sum := rec.Summary
	last := rec.Series[len(rec.Series)-1].Swarm
	if sum.Held != n || len(sum.Errors) != 0 || sum.Dropped != 0 {
		t.Fatalf("summary held %d errors %v dropped %d", sum.Held, sum.Errors, sum.Dropped)
	}
	if sum.Sent == 0 || sum.Acked != sum.Sent || last.Acks["lost"] != 0 || sum.Delivered != last.Acks["delivered"] {
		t.Errorf("messages: sent %d acked %d delivered %d acks %v", sum.Sent, sum.Acked, sum.Delivered, last.Acks)
	}
	t.Logf("ramp %.2fs, %.0f conn/s mean; client %.0f B/conn; ack p99 %.1fms; deliver p99 %.1fms",
		sum.RampSeconds, sum.ConnectRateMean, sum.ClientBytesPer, sum.Latency["ack"].P99*1e3, sum.Latency["deliver"].P99*1e3)
}

// A tiny port range inside a network namespace the test creates: the
// gateway's own port takes one of ten local ports, the plan allows ten
// connections from one source (with a warning), the kernel finds nine:
// one EADDRNOTAVAIL, printed with its fix, exit status 1.
func TestSwarmEADDRNOTAVAILInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is not installed")
	}
	bin := rt.Binary(t)
	ns := fmt.Sprintf("imtool-swarm-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", ns, err, out)
		}
	})
	for _, args := range [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40009"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	startProc(t, "ip", "netns", "exec", ns, bin, "server", "--listen", "127.0.0.1", "--ports", "40000-40000", "--stats", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-Htln", "sport = :40000").Output()
		if len(out) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateway did not listen in the namespace")
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := startProc(t, "ip", "netns", "exec", ns, bin, "swarm", "--target", "127.0.0.1:40000", "--source-ips", "127.0.0.2",
		"--conns", "10", "--procs", "1", "--hold", "200ms", "--stats", "", "--tui=false")
	if code := p.wait(t, 30*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	out := p.out.String()
	for _, want := range []string{"warning: slow plan", "eaddrnotavail × 1", stats.Fix(stats.ErrAddrNotAvail), "EADDRNOTAVAIL", "held 9 of 10 requested", "source 127.0.0.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Ctrl-C during the ramp stops gracefully: the record is marked
// interrupted, the exit status says the run fell short.
func TestSwarmInterrupt(t *testing.T) {
	bin := rt.Binary(t)
	base := freeBase(t, 2)
	startProc(t, bin, "server", "--listen", "127.0.0.1", "--base-port", strconv.Itoa(base), "--ports", "2", "--stats", "")
	time.Sleep(300 * time.Millisecond)
	dir := t.TempDir()
	p := startProc(t, bin, "swarm", "--base-port", strconv.Itoa(base), "--ports", "2", "--conns", "5000", "--rate", "200",
		"--procs", "1", "--stats", "", "--tui=false", "--out", dir)
	time.Sleep(2 * time.Second)
	_ = p.cmd.Process.Signal(os.Interrupt)
	if code := p.wait(t, 20*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	rec, _ := readRecord(t, dir)
	if rec.Complete || !strings.Contains(rec.Incomplete, "interrupted during ramp") || rec.Summary.Held == 0 {
		t.Fatalf("record complete %v incomplete %q held %d", rec.Complete, rec.Incomplete, rec.Summary.Held)
	}
	if !strings.Contains(p.out.String(), "INCOMPLETE") {
		t.Errorf("summary does not say the run is incomplete:\n%s", p.out.String())
	}
}

// A swarm of two shard processes: each shard is `imtool swarm` with its
// options from the parent whole (in its environment, not as flags), runs
// its slice, holds until the parent's supervisor ends the hold, then every
// message is ACKed and delivered before any shard closes.
func TestSwarmTwoShards(t *testing.T) {
	bin := rt.Binary(t)
	base := freeBase(t, 3)
	srvStats := fmt.Sprintf("127.0.0.1:%d", base+2)
	startProc(t, bin, "server", "--listen", "127.0.0.1", "--base-port", strconv.Itoa(base), "--ports", "2", "--stats", srvStats)
	rt.WaitStats(t, "http://"+srvStats+"/stats", 10*time.Second, "the gateway", func(stats.Snapshot) bool { return true })
	dir := t.TempDir()
	p := startProc(t, bin, "swarm", "--base-port", strconv.Itoa(base), "--ports", "2", "--conns", "60", "--procs", "2",
		"--uid-base", "7000", "--hold", "1500ms", "--heartbeat", "200ms", "--msg-rate", "100", "--stats", "", "--tui=false", "--out", dir)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	rec, _ := readRecord(t, dir)
	s := rec.Summary
	// Every message is ACKed, and every one ACKed as delivered arrived. A
	// shard messages once its own ramp is over, so a message to a uid the
	// other shard is still logging in is answered offline (status 1).
	acks := rec.Series[len(rec.Series)-1].Swarm.Acks
	if s.Held != 60 || s.Requested != 60 || s.Sent == 0 || s.Sent != s.Acked || s.Delivered != acks["delivered"] ||
		acks["delivered"]+acks["offline"] != s.Acked || acks["delivered"] < s.Acked*9/10 {
		t.Fatalf("held %d of %d; sent %d acked %d delivered %d acks %v", s.Held, s.Requested, s.Sent, s.Acked, s.Delivered, acks)
	}
	last := rec.Series[len(rec.Series)-1].Swarm
	if last.Processes != 2 {
		t.Fatalf("the swarm ran in %d processes, want 2", last.Processes)
	}
}
