package main

import (
	"path/filepath"
	"testing"
)

func fixture(name string) string { return filepath.Join("..", "..", "tuner", "testdata", name) }

func TestTuneExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"tuned host is ok", []string{"tune", "check", "--root", fixture("tuned"), "--source-ips", "2"}, 0},
		{"fresh host needs tuning", []string{"tune", "check", "--root", fixture("fresh"), "--json"}, 1},
		{"one port above 4096 is that port", []string{"tune", "check", "--root", fixture("tuned"), "--role", "server", "--ports", "9000"}, 0},
		{"no /proc/sys cannot be checked", []string{"tune", "check", "--root", t.TempDir()}, 3},
		{"bad role", []string{"tune", "check", "--root", fixture("fresh"), "--role", "gateway"}, 2},
		{"bad ports", []string{"tune", "check", "--root", fixture("fresh"), "--ports", "9000-80"}, 2},
		{"apply --json without --yes", []string{"tune", "apply", "--root", fixture("tuned"), "--json"}, 2},
		{"apply on a tuned host changes nothing", []string{"tune", "apply", "--root", fixture("tuned"), "--source-ips", "2", "--yes"}, 0},
		{"live-only and persist-only", []string{"tune", "apply", "--root", fixture("fresh"), "--live-only", "--persist-only"}, 2},
		{"revert without a snapshot is harmless", []string{"tune", "revert", "--root", t.TempDir()}, 0},
		{"windows script", []string{"tune", "script", "--os", "windows", "--role", "client"}, 0},
		{"unknown script OS", []string{"tune", "script", "--os", "plan9"}, 2},
		{"unknown subcommand", []string{"tune", "chek"}, 2},
		{"help", []string{"tune", "apply", "--help"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(append([]string{"imtool"}, tc.args...)); got != tc.want {
				t.Errorf("exit %d, want %d", got, tc.want)
			}
		})
	}
}
