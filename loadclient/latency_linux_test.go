//go:build linux

package loadclient

import (
	"bufio"
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
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// TestLatencyTruth checks the epoll swarm's latencies against servers that
// answer after a known delay (the delay server): `imtool swarm` holds its
// connections, with the holding period's waits in force, while the
// servers time their own answers from the swarm's planned send times.
// The swarm's heartbeat, ack and deliver medians must be the servers'
// within 0.3 ms — whatever the delay, and whatever the swarm's own event
// loop was doing — and never below the delay; the connect median is the
// kernel's handshake (well under 0.3 ms on loopback), and the login median
// is at least the delay.
//
// Timing is what it checks, so it runs alone, from the README's test
// command (-args -latency-truth), not beside the other packages' tests.
func TestLatencyTruth(t *testing.T) {
	if !*latencyTruth {
		t.Skip("run alone: go test -run TestLatencyTruth ./loadclient -args -latency-truth")
	}
	bin := rt.Binary(t)
	for _, tc := range []struct {
		conns, servers int
		delay, beat    time.Duration
	}{
		{1000, 1, 0, time.Second},
		{1000, 1, 2 * time.Millisecond, time.Second},
		{20000, 2, 2 * time.Millisecond, 2 * time.Second}, // 20,000 fds: two server processes, two swarm shards
	} {
		t.Run(fmt.Sprintf("%d conns, delay %v", tc.conns, tc.delay), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			args := []string{"swarm", "--conns", strconv.Itoa(tc.conns), "--rate", "20000", "--heartbeat", tc.beat.String(),
				"--msg-rate", "200", "--hold", "6s", "--stats", "", "--tui=false", "--out", dir}
			var servers []*delayProc
			for i := 0; i < tc.servers; i++ {
				s := startDelayServer(t, tc.delay)
				servers = append(servers, s)
				args = append(args, "--target", "127.0.0.1:"+strconv.Itoa(s.port))
			}
			cmd := exec.Command(bin, args...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("imtool swarm: %v\n%s", err, out)
			}
			srv := map[string][]int64{}
			var held []int64
			for _, s := range servers {
				r := s.stop(t)
				for k, v := range r.Latency {
					srv[k] = append(srv[k], v...)
				}
				held = append(held, r.Held...)
			}
			b, err := os.ReadFile(filepath.Join(dir, "run.json"))
			if err != nil {
				t.Fatalf("no run record: %v\n%s", err, out)
			}
			var rec stats.Record
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			s := rec.Summary
			if s.Held != int64(tc.conns) {
				t.Fatalf("held %d of %d (errors %v)\n%s", s.Held, tc.conns, s.Errors, out)
			}
			ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }
			sw := func(kind string) time.Duration {
				return time.Duration(s.Latency[kind].P50 * 1e9)
			}
			t.Logf("server's own holding time p50 %s", ms(p50(held)))
			for _, kind := range []string{stats.LatHeartbeat, stats.LatAck, stats.LatDeliver} {
				want, got := p50(srv[kind]), sw(kind)
				t.Logf("%-9s p50: swarm %s, server %s (%d answers)", kind, ms(got), ms(want), len(srv[kind]))
				switch {
				case len(srv[kind]) == 0 || s.Latency[kind].Count == 0:
					t.Errorf("%s: no answers timed (server %d, swarm %d)", kind, len(srv[kind]), s.Latency[kind].Count)
				case got < tc.delay:
					t.Errorf("%s p50 %s is below the server's delay %v", kind, ms(got), tc.delay)
				case got > want+300*time.Microsecond || got < want-100*time.Microsecond:
					t.Errorf("%s p50: swarm %s, server %s: want within +0.3 ms", kind, ms(got), ms(want))
				}
			}
			if c := sw(stats.LatConnect); c <= 0 || c > 300*time.Microsecond {
				t.Errorf("connect p50 %s: want the loopback handshake, under 0.3 ms", ms(c))
			}
			if l := sw(stats.LatLogin); l < tc.delay {
				t.Errorf("login p50 %s is below the server's delay %v", ms(l), tc.delay)
			}
			t.Logf("connect p50 %s, login p50 %s, lag p50 %s", ms(sw(stats.LatConnect)), ms(sw(stats.LatLogin)), ms(sw(stats.LatLag)))
		})
	}
}

// TestLatencyTruthMessages checks the swarm's ack and deliver medians on
// the reference gateway's routed message path against an independent
// client (refservertest.SendRTT: one socket per user, written from
// docs/PROTOCOL.md) in the same run: three gateway processes on ports of
// their own joined by a dispatcher, a swarm of 1,500 connections over all
// of them sending 200 messages a second to random uids (two in three go
// to another gateway), and the probe sending from a user on the first
// gateway to one on the second, so that every probe message is routed.
// The medians of the hold must agree within 0.3 ms.
func TestLatencyTruthMessages(t *testing.T) {
	if !*latencyTruth {
		t.Skip("run alone: go test -run TestLatencyTruth ./loadclient -args -latency-truth")
	}
	bin := rt.Binary(t)
	ports, _ := rt.FreePorts(t, 5)
	disp := "127.0.0.1:" + strconv.Itoa(ports[3])
	dispStats := "127.0.0.1:" + strconv.Itoa(ports[4])
	rt.Start(t, bin, "dispatcher", "--listen", disp, "--stats", dispStats)
	var addrs []string
	for i, p := range ports[:3] {
		rt.Start(t, bin, "server", "--listen", "127.0.0.1", "--ports", strconv.Itoa(p), "--dispatcher", disp,
			"--gateway-id", fmt.Sprintf("gw-%d", i), "--stats", "")
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	for _, a := range addrs {
		rt.Eventually(t, 10*time.Second, a+" listening", func() bool {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	// A dispatcher answers 2 (route unavailable) for uids it does not know
	// until its routes are complete: wait for that, with every gateway in.
	rt.WaitStats(t, "http://"+dispStats+"/stats", 20*time.Second, "the dispatcher up with 3 gateways", func(s stats.Snapshot) bool {
		return s.Dispatcher == "up" && s.Gateways == 3
	})
	dir := filepath.Join(t.TempDir(), "run")
	args := []string{"swarm", "--conns", "1500", "--rate", "20000", "--heartbeat", "1s", "--msg-rate", "200",
		"--hold", "8s", "--stats", "", "--tui=false", "--out", dir}
	for _, a := range addrs {
		args = append(args, "--target", a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	probed := make(chan []rt.MsgRTT, 1)
	var probeErr error
	go func() {
		time.Sleep(time.Second)
		r, err := rt.SendRTT(ctx, addrs[0], addrs[1], 1<<62, 1<<62+1, 10*time.Millisecond)
		probeErr = err
		probed <- r
	}()
	out, err := exec.Command(bin, args...).CombinedOutput()
	cancel()
	msgs := <-probed
	if err != nil {
		t.Fatalf("imtool swarm: %v\n%s", err, out)
	}
	if probeErr != nil {
		t.Fatalf("probe: %v", probeErr)
	}
	rec := readRecord(t, dir)
	from, to := holdWindow(rec)
	var acks, delivers []int64
	for _, m := range msgs {
		if m.At.After(from) && m.At.Before(to) {
			acks = append(acks, int64(m.Ack))
			delivers = append(delivers, int64(m.Deliver))
		}
	}
	if len(acks) < 100 {
		t.Fatalf("the probe timed %d messages in the hold (%d in all): too few to compare", len(acks), len(msgs))
	}
	if s := rec.Summary; s.Held != 1500 {
		t.Fatalf("held %d of 1500 (errors %v)\n%s", s.Held, s.Errors, out)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }
	for _, c := range []struct {
		kind  string
		probe []int64
	}{{stats.LatAck, acks}, {stats.LatDeliver, delivers}} {
		sw := rec.Summary.HoldLatency[c.kind]
		got, want := time.Duration(sw.P50*1e9), p50(c.probe)
		t.Logf("%-8s p50 in the hold: swarm %s (%d), single-socket probe %s (%d)", c.kind, ms(got), sw.Count, ms(want), len(c.probe))
		if sw.Count == 0 || got > want+300*time.Microsecond || got < want-300*time.Microsecond {
			t.Errorf("%s p50: swarm %s, probe %s: want within 0.3 ms", c.kind, ms(got), ms(want))
		}
	}
}

// TestRampAgreesWithServer: the raw swarm's reported ramp for 19,000
// connections at an unbounded --rate agrees within 10% with the other end's
// own clock — the kernel's, under a listener that notes when the handshakes
// of its first and its last connection completed — instead of being rounded
// to the 1 s sample. Both run in a network namespace whose accept queue
// holds every connection, so that a slow accept loop cannot drop a
// handshake's last ACK and delay the listener's end by a SYN-ACK
// retransmission the client never sees.
func TestRampAgreesWithServer(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 19,000 connections")
	}
	const n = 19000
	ns := netns(t, "32768 60999")
	if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.core.somaxconn=65535").CombinedOutput(); err != nil {
		t.Fatalf("sysctl net.core.somaxconn in %s: %v %s", ns, err, out)
	}
	srv := newSinkIn(t, ns)
	dir := filepath.Join(t.TempDir(), "run")
	out, err := exec.Command("ip", "netns", "exec", ns, rt.Binary(t), "swarm", "--proto", "raw", "--target", srv.addr(), "--conns", strconv.Itoa(n),
		"--rate", "1000000", "--procs", "1", "--hold", "1s", "--close", "rst", "--stats", "", "--tui=false", "--out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("imtool swarm: %v\n%s", err, out)
	}
	s := readRecord(t, dir).Summary
	accepted, took := srv.accepted()
	span := took.Seconds()
	t.Logf("swarm: ramp %.3f s, %.0f conn/s (paced by %s); listener: %d accepted, handshakes over %.3f s", s.RampSeconds, s.ConnectRateMean, s.RampCap, accepted, span)
	if s.Held != n || accepted != n {
		t.Fatalf("held %d, accepted %d; want %d", s.Held, accepted, n)
	}
	if o := nsCounter(t, ns, "TcpExt", "ListenOverflows"); o != 0 {
		t.Fatalf("the listener's accept queue overflowed %d times: its handshake times are not the client's", o)
	}
	if d := s.RampSeconds - span; d > 0.1*span || d < -0.1*span {
		t.Errorf("ramp %.3f s, the listener's %.3f s: want within 10%%", s.RampSeconds, span)
	}
}

// nsCounter reads one counter of /proc/net/netstat or /proc/net/snmp (the
// "TcpExt: …" and "Tcp: …" header and value lines) inside namespace ns.
func nsCounter(t *testing.T, ns, group, name string) int64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/netstat", "/proc/net/snmp").Output()
	if err != nil {
		t.Fatalf("counters of %s: %v", ns, err)
	}
	lines := strings.Split(string(out), "\n")
	for i := 0; i+1 < len(lines); i++ {
		keys, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(keys) == 0 || keys[0] != group+":" || len(vals) != len(keys) || vals[0] != keys[0] {
			continue
		}
		for j, k := range keys {
			if k == name {
				v, err := strconv.ParseInt(vals[j], 10, 64)
				if err != nil {
					t.Fatalf("%s %s: %v", group, name, err)
				}
				return v
			}
		}
	}
	t.Fatalf("no counter %s %s in %s", group, name, ns)
	return 0
}

var latencyTruth = flag.Bool("latency-truth", false, "run TestLatencyTruth (alone: it checks timing)")

type delayProc struct {
	cmd  *exec.Cmd
	port int
	out  *bufio.Reader
}

func startDelayServer(t *testing.T, delay time.Duration) *delayProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "IMTOOL_LC_HELPER=delayserver", "IMTOOL_DELAY="+delay.String())
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &delayProc{cmd: cmd, out: bufio.NewReader(stdout)}
	line, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("delay server: %v", err)
	}
	if _, err := fmt.Sscanf(line, "listening %d", &p.port); err != nil {
		t.Fatalf("delay server said %q: %v", line, err)
	}
	return p
}

// stop ends the server and reads its report.
func (p *delayProc) stop(t *testing.T) delayReport {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	var r delayReport
	if err := json.NewDecoder(p.out).Decode(&r); err != nil {
		t.Fatalf("delay server's report: %v", err)
	}
	return r
}
