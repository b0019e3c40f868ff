package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentAndCoordinatorFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.token")
	weak := filepath.Join(t.TempDir(), "weak.token")
	if err := os.WriteFile(weak, []byte("x\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(weak, 0o666)
	pin := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"agent without a token file", []string{"imtool", "agent", "--listen", "127.0.0.1:0"}, 2},
		{"agent with a bad CIDR", []string{"imtool", "agent", "--token-file", missing, "--allow-targets", "10.0.0.0/99"}, 2},
		{"swarm --token-file without --agents", []string{"imtool", "swarm", "--token-file", missing, "--tui=false"}, 2},
		{"swarm --agents without its token", []string{"imtool", "swarm", "--agents", "127.0.0.1:1", "--token-file", missing, "--tui=false"}, 2},
		{"agent with a weak token file", []string{"imtool", "agent", "--listen", "127.0.0.1:0", "--token-file", weak}, 2},
		{"swarm --agents with a weak token file", []string{"imtool", "swarm", "--agents", "127.0.0.1:1", "--token-file", weak, "--agent-fingerprint", pin, "--tui=false"}, 2},
		{"agent --tls-cert without --tls-key", []string{"imtool", "agent", "--token-file", missing, "--tls-cert", "a.crt"}, 2},
		{"agent --insecure-http with --tls-cert", []string{"imtool", "agent", "--token-file", missing, "--insecure-http", "--tls-cert", "a.crt", "--tls-key", "a.key"}, 2},
		{"swarm --agent-fingerprint without --agents", []string{"imtool", "swarm", "--agent-fingerprint", pin, "--tui=false"}, 2},
		{"swarm --agents with a bad fingerprint", []string{"imtool", "swarm", "--agents", "127.0.0.1:1", "--token-file", weak, "--agent-fingerprint", "sha256:12", "--tui=false"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := run(tc.args); code != tc.code {
				t.Fatalf("exit %d, want %d", code, tc.code)
			}
			if _, err := os.Stat(missing); err == nil {
				t.Fatal("a token file was written although the command was refused")
			}
		})
	}
}
