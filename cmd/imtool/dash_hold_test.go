//go:build linux

package main

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// imtool swarm's dashboard in a real terminal, in a timed hold with
// heartbeats and messages: the header counts the hold down, the message
// rates, the ack row and the last-interval latency head are on screen, and
// the run ends by itself when the hold is over.
func TestSwarmHoldInTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin := imtoolBinary(t)
	_, ports := rt.FreePorts(t, 1)
	daemon(t, bin, "server", "--listen", "127.0.0.1", "--ports", ports+"-"+ports, "--stats=")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+ports)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway does not listen on %s: %v", ports, err)
		}
	}
	term := newTerminal(t, 120, 40, bin, "swarm", "--target", "127.0.0.1:"+ports, "--conns", "200",
		"--heartbeat", "200ms", "--msg-rate", "100", "--hold", "15s", "--stats=''", "--procs", "1")

	countdown := regexp.MustCompile(`HOLD 0:(\d\d) left of 0:15`)
	first := countdown.FindStringSubmatch(term.waitFor("the hold countdown", countdown.MatchString))
	ackRow := regexp.MustCompile(`(?m)^ ack\s+\d[\d.]*[µm]?s\s`)
	msgs := regexp.MustCompile(`msg/s sent \d+\s+acked \d+\s+delivered \d+\s+ping/s [\d,]+`)
	screen := term.waitFor("message rates and an ack row with figures", func(s string) bool {
		return ackRow.MatchString(s) && msgs.MatchString(s)
	})
	if !regexp.MustCompile(`latency last \d`).MatchString(screen) {
		t.Errorf("the latency table does not say which interval it shows:\n%s", screen)
	}
	start, _ := strconv.Atoi(first[1])
	term.waitFor(fmt.Sprintf("the countdown going below 0:%02d", start), func(s string) bool {
		m := countdown.FindStringSubmatch(s)
		n := start
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		return n < start
	})
	term.exited()
}
