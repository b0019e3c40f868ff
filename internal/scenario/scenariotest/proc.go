// Package scenariotest starts the real servers that the shipped scenario
// files (examples/protocols/) are tested against, on loopback ports it
// picks: Debian's nats-server, Centrifugo v6, a Socket.IO v4 server on
// Debian's node, and a goim-style length-prefixed binary gateway written
// here from goim's published header layout. Each one exposes its own count
// of connections, the independent observer of the swarm's held figure, and
// is started with refservertest.Start (killed when the test ends, its
// output logged when it fails).
//
// A server that is not installed skips the test, except under CI (CI set),
// where .ci/run installs every one and a missing one fails: a check that
// was skipped is not a check that passed.
package scenariotest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// Missing skips t (or fails it under CI) because what is not installed;
// install says how to install it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (%s); .ci/run installs it", what, install)
	}
	t.Skipf("%s is not installed (%s)", what, install)
}

// WaitTCP waits (timeout at most) until addr accepts a TCP connection;
// false when it did not or the process p ended first.
func WaitTCP(p *rt.Proc, addr string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		if _, ended := p.Wait(0); ended {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Addr is 127.0.0.1:port.
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// getJSON decodes the JSON document at url into v.
func getJSON(url string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
