//go:build linux

package loadclient

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/mqtt/mqtttest"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// TestLateLoopTimeouts: a swarm that falls behind (here stopped outright,
// as a VM's stolen time or a saturated host stops it) does not count as
// timeouts the answers that reached the host in time. Each swarm is
// stopped mid-ramp for 2.5 s, well past its 1 s connect and login
// timeouts, while the kernel completes its handshakes and receives the
// answers; every connection must then be held, with no error. On the old
// code, which judged a deadline by when the loop came to it, about 300
// logins timed out in the first case; without a deadline per handshake
// step, a few in each of the others.
func TestLateLoopTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a swarm for 2.5 s")
	}
	const conns = 3000
	// A server that answers LOGIN after 300 ms: about 300 logins are in
	// flight at the stop. The server's own count of logins answered and
	// the login latencies (its delay, not the stop) are checked too.
	t.Run("imtool, logins in flight", func(t *testing.T) {
		const delay = 300 * time.Millisecond
		srv := startDelayServer(t, delay)
		s := stopMidRamp(t, conns, "--target", "127.0.0.1:"+strconv.Itoa(srv.port))
		rep := srv.stop(t)
		login := s.Latency[stats.LatLogin]
		t.Logf("held %d, errors %v; the server answered %d logins; login p50 %.0f ms, max %.0f ms",
			s.Held, s.Errors, rep.Logins, login.P50*1e3, login.Max*1e3)
		if rep.Logins != conns {
			t.Errorf("the server answered %d logins, want %d (one per connection)", rep.Logins, conns)
		}
		if login.P50 < delay.Seconds() || login.Max > 0.9 {
			t.Errorf("login p50 %.3f s, max %.3f s: want the server's %v, timed by the kernel, not the 2.5 s stop", login.P50, login.Max, delay)
		}
	})
	// The portable engine: a read deadline that fires while its goroutine
	// is late is judged by when the answer arrived (the kernel's time), and
	// a connect by TCP_INFO.
	t.Run("portable engine, logins in flight", func(t *testing.T) {
		const delay = 300 * time.Millisecond
		srv := startDelayServer(t, delay)
		s := stopMidRamp(t, conns, "--target", "127.0.0.1:"+strconv.Itoa(srv.port), "--engine", "portable")
		srv.stop(t)
		t.Logf("held %d, errors %v", s.Held, s.Errors)
	})
	// WebSocket upgrade, then LOGIN: the connections caught between the
	// 101 and the LOGIN_OK at the stop get a deadline for each step.
	t.Run("ws+imtool, upgrades in flight", func(t *testing.T) {
		g := rt.NewGateway(t, refserver.Options{WSPorts: []uint16{0}}, 0)
		s := stopMidRamp(t, conns, "--target", "ws://"+g.Addrs[0]+"/", "--proto", "ws+imtool")
		t.Logf("held %d, errors %v", s.Held, s.Errors)
	})
	// MQTT with --subscribe against mosquitto: CONNACK, then SUBSCRIBE and
	// SUBACK, each step with its own deadline. The window keeps the dials
	// due after the stop from overflowing mosquitto's accept queue, which
	// would time out connects for real.
	t.Run("mqtt --subscribe, CONNACKs in flight", func(t *testing.T) {
		b := mqtttest.Start(t, mqtttest.Options{})
		s := stopMidRamp(t, conns, "--target", b.Addr, "--proto", "mqtt", "--subscribe", "devices/{uid}/in", "--max-inflight", "64")
		t.Logf("held %d, errors %v", s.Held, s.Errors)
	})
}

// stopMidRamp runs `imtool swarm` for conns connections at 1,000 a second
// with 1 s connect and login timeouts, stops its process group with SIGSTOP
// for 2.5 s once its progress line shows a quarter established, and
// returns its summary, having checked that every connection was held with
// no error.
func stopMidRamp(t *testing.T, conns int, args ...string) stats.Summary {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	args = append([]string{"swarm", "--conns", strconv.Itoa(conns), "--rate", "1000", "--procs", "1", "--heartbeat", "30s",
		"--hold", "2s", "--connect-timeout", "1s", "--login-timeout", "1s", "--stats", "", "--tui=false", "--out", dir}, args...)
	cmd := exec.Command(rt.Binary(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGCONT)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	progress := regexp.MustCompile(`ramp +held (\d+)/`)
	var out bytes.Buffer
	sc := bufio.NewScanner(stdout)
	stopped := false
	for sc.Scan() {
		out.Write(append(sc.Bytes(), '\n'))
		if m := progress.FindSubmatch(sc.Bytes()); !stopped && m != nil {
			if n, _ := strconv.Atoi(string(m[1])); n >= conns/4 && n < conns {
				if err := syscall.Kill(-pgid, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2500 * time.Millisecond)
				if err := syscall.Kill(-pgid, syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				stopped = true
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("imtool swarm: %v\n%s%s", err, out.Bytes(), stderr.Bytes())
	}
	if !stopped {
		t.Fatalf("the swarm was never seen mid-ramp:\n%s", out.Bytes())
	}
	s := readRecord(t, dir).Summary
	if len(s.Errors) != 0 || s.Held != int64(conns) {
		t.Errorf("held %d of %d, errors %v: answers that came in time were counted as timeouts\n%s", s.Held, conns, s.Errors, out.Bytes())
	}
	return s
}
