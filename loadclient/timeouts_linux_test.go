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

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// TestLateLoopTimeouts: a swarm that falls behind (here stopped outright,
// as a VM's stolen time or a saturated host stops it) does not count as
// timeouts the answers that reached the host in time. The swarm ramps into
// a server that answers LOGIN after 300 ms, so about 300 logins (and the
// connects of the last dials) are in flight when the swarm is stopped for
// 2.5 s, well past the 1 s connect and login timeouts; the kernel completes
// their handshakes and receives their LOGIN_OKs meanwhile. Every
// connection must be held, with no error, as many as the server answered
// logins, and the login latencies must be the server's delay, not the
// stop. On the old code, which judged a deadline by when the loop came to
// it, about 300 logins timed out.
func TestLateLoopTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a swarm for 2.5 s")
	}
	const conns, delay = 3000, 300 * time.Millisecond
	srv := startDelayServer(t, delay)
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(rt.Binary(t), "swarm", "--target", "127.0.0.1:"+strconv.Itoa(srv.port),
		"--conns", strconv.Itoa(conns), "--rate", "1000", "--procs", "1", "--heartbeat", "30s", "--hold", "2s",
		"--connect-timeout", "1s", "--login-timeout", "1s", "--stats", "", "--tui=false", "--out", dir)
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

	// Stop it mid-ramp: once its progress line shows a quarter established.
	progress := regexp.MustCompile(`ramp +established (\d+)/`)
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
	rep := srv.stop(t)
	s := readRecord(t, dir).Summary
	login := s.Latency[stats.LatLogin]
	t.Logf("held %d, errors %v; the server answered %d logins; login p50 %.0f ms, max %.0f ms",
		s.Held, s.Errors, rep.Logins, login.P50*1e3, login.Max*1e3)
	if len(s.Errors) != 0 || s.Held != conns {
		t.Errorf("held %d of %d, errors %v: answers that came in time were counted as timeouts", s.Held, conns, s.Errors)
	}
	if rep.Logins != conns {
		t.Errorf("the server answered %d logins, want %d (one per connection)", rep.Logins, conns)
	}
	if login.P50 < delay.Seconds() || login.Max > 0.9 {
		t.Errorf("login p50 %.3f s, max %.3f s: want the server's %v, timed by the kernel, not the 2.5 s stop", login.P50, login.Max, delay)
	}
}
