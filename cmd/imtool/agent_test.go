package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAgentAndCoordinatorFlags(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.token")
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"agent without a token file", []string{"imtool", "agent", "--listen", "127.0.0.1:0"}, 2},
		{"agent with a bad CIDR", []string{"imtool", "agent", "--token-file", missing, "--allow-targets", "10.0.0.0/99"}, 2},
		{"swarm --token-file without --agents", []string{"imtool", "swarm", "--token-file", missing, "--tui=false"}, 2},
		{"swarm --agents without its token", []string{"imtool", "swarm", "--agents", "127.0.0.1:1", "--token-file", missing, "--tui=false"}, 2},
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
