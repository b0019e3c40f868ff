package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad scenario file exits 2 before anything is dialed, naming
// file:line:col and the fix; --scenario-check prints the frames of uid 1.
func TestScenarioFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, src, want string }{
		{"syntax", "name: x\n  framing: line\n", "bad.yaml:2:1: not valid YAML"},
		{"unknown field", "framing: line\nhartbeat:\n  send: PING\n", `bad.yaml:2:1: unknown field "hartbeat" in the scenario: did you mean heartbeat?`},
		{"unknown variable", "framing: line\nopen:\n  - send: 'LOGIN {usr}'\n", "bad.yaml:3:11: unknown variable {usr}: capture it in an earlier step"},
		{"bad regex", "framing: line\nopen:\n  - expect: {regex: '(?<x'}\n", "bad.yaml:3:21: regex \"(?<x\" does not compile"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "bad.yaml")
			os.WriteFile(f, []byte(tt.src), 0o644)
			for _, cmd := range []string{"swarm", "bench"} {
				code, _, stderr := imtoolRun(t, cmd, "--scenario", f, "--conns", "10", "--tui=false")
				if code != exitUsage || !strings.Contains(stderr, filepath.Join(dir, tt.want)) {
					t.Errorf("%s: exit %d, want %d with %q:\n%s", cmd, code, exitUsage, tt.want, stderr)
				}
			}
		})
	}
	code, _, stderr := imtoolRun(t, "swarm", "--scenario", filepath.Join(dir, "none.yaml"))
	if code != exitUsage || !strings.Contains(stderr, "none.yaml: no such file") {
		t.Errorf("a missing file: exit %d:\n%s", code, stderr)
	}
	code, _, stderr = imtoolRun(t, "swarm", "--scenario", filepath.Join("..", "..", "examples", "protocols", "nats.yaml"), "--proto", "mqtt")
	if code != exitUsage || !strings.Contains(stderr, "leave --proto out") {
		t.Errorf("--proto with --scenario: exit %d:\n%s", code, stderr)
	}
}

func TestScenarioCheck(t *testing.T) {
	code, stdout, stderr := imtoolRun(t, "swarm", "--scenario", filepath.Join("..", "..", "examples", "protocols", "nats.yaml"), "--scenario-check", "--uid-base", "100")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{
		`send   "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"imtool-100\"`,
		`SUB inbox.100 1\r\nPING\r\n"`,
		`expect equals "PONG"`,
		`message at --msg-rate, to uid 101 here`,
		`send   "PUB inbox.101 `,
		`error nats_stale when prefix "-ERR 'Stale Connection'"`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--scenario-check does not show %s:\n%s", want, stdout)
		}
	}
	code, stdout, _ = imtoolRun(t, "swarm", "--scenario", filepath.Join("..", "..", "examples", "protocols", "goim.yaml"), "--scenario-check")
	if code != 0 || !strings.Contains(stdout, "send   95 bytes: 0000005f 00100001 00000007 00000001 7b226d69") {
		t.Errorf("binary frames are not shown in hex (exit %d):\n%s", code, stdout)
	}
}
