//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// These tests run the real binary in a real terminal: tmux, on a server of
// its own (-L), so a person's tmux is never touched. They wait for what the
// screen shows; they measure nothing.

// terminal is one tmux session running one command.
type terminal struct {
	t      *testing.T
	socket string
}

func newTerminal(t *testing.T, w, h int, command ...string) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	term := &terminal{t: t, socket: fmt.Sprintf("imtool-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	args := append([]string{"new-session", "-d", "-s", "main", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h)}, strings.Join(command, " "))
	term.tmux(args...)
	term.tmux("set-option", "-t", "main", "remain-on-exit", "on")
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", term.socket, "kill-server").Run() })
	return term
}

func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", term.socket}, args...)...).CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (term *terminal) screen() string { return term.tmux("capture-pane", "-p", "-t", "main") }

// waitFor polls the screen until ok says yes, and fails with the last
// screen after a generous while.
func (term *terminal) waitFor(what string, ok func(screen string) bool) string {
	term.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := term.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the screen never showed %s; last screen:\n%s", what, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (term *terminal) contains(what string) string {
	term.t.Helper()
	return term.waitFor(fmt.Sprintf("%q", what), func(s string) bool { return strings.Contains(s, what) })
}

// exited waits until the command has ended, and checks that it left the
// alternate screen (the terminal is restored).
func (term *terminal) exited() {
	term.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		state := strings.Fields(term.tmux("display-message", "-p", "-t", "main", "#{pane_dead} #{alternate_on}"))
		if len(state) == 2 && state[0] == "1" {
			if state[1] != "0" {
				term.t.Fatalf("the command ended but left the terminal on the alternate screen:\n%s", term.screen())
			}
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the command did not end; last screen:\n%s", term.screen())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// daemon runs the binary in the background until the test ends or the
// returned function is called, stopping it with SIGTERM (the server then
// stops its shards).
func daemon(t *testing.T, bin string, args ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), args[0]+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() { stopDaemon(cmd, done) }
	t.Cleanup(stop)
	return stop
}

func stopDaemon(cmd *exec.Cmd, done chan struct{}) {
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// imtool dash against a sharded server and a dispatcher: the shards and
// their connections are on screen; the dispatcher shows DOWN when killed and
// up again after a restart; q quits and restores the terminal.
func TestDashInTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin := rt.Binary(t)
	ports, _ := rt.FreePorts(t, 3)
	gwPorts, gwList := rt.FreePorts(t, 2)
	linkAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	dispStats := fmt.Sprintf("127.0.0.1:%d", ports[1])
	srvStats := fmt.Sprintf("127.0.0.1:%d", ports[2])

	stopDispatcher := daemon(t, bin, "dispatcher", "--listen", linkAddr, "--stats", dispStats)
	daemon(t, bin, "server", "--listen", "127.0.0.1", "--ports", gwList,
		"--procs", "2", "--stats", srvStats, "--dispatcher", linkAddr, "--login-timeout", "5m")

	term := newTerminal(t, 120, 40, bin, "dash", "--server", "http://"+srvStats, "--dispatcher", "http://"+dispStats, "--target", "40", "--interval", "200ms")
	term.contains("gateway ×2")
	term.contains("dispatcher up")

	// Forty connections, spread by the kernel over both shards.
	for i := range 40 {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", gwPorts[i%2]))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	shardRow := regexp.MustCompile(`(?m)^ gw-\S+\s+(\d+)\s+\d+`)
	term.waitFor("40 connections over two shard rows", func(s string) bool {
		rows := shardRow.FindAllStringSubmatch(s, -1)
		sum := 0
		for _, r := range rows {
			var n int
			fmt.Sscan(r[1], &n)
			sum += n
		}
		return strings.Contains(s, "conns 40 ") && len(rows) == 2 && sum == 40
	})

	stopDispatcher()
	term.contains("dispatcher DOWN")
	daemon(t, bin, "dispatcher", "--listen", linkAddr, "--stats", dispStats)
	term.contains("dispatcher up")

	term.tmux("send-keys", "-t", "main", "q")
	term.exited()
}

// imtool bench opens the dashboard in a terminal: the established count
// reaches the target, the server's connections match it, q ends the run
// and the terminal is restored.
func TestBenchInTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin := rt.Binary(t)
	const conns = 3000
	_, ports := rt.FreePorts(t, 20) // not 9000-9019: other packages' tests run at the same time
	term := newTerminal(t, 120, 40, bin, "bench", "--conns", fmt.Sprint(conns), "--hold", "30s", "--ports", ports, "--out", t.TempDir())
	term.contains("3,000 / 3,000 held")
	term.contains("conns 3,000")
	term.tmux("send-keys", "-t", "main", "q")
	term.exited()
}
