package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Fault
	}{
		{"kill-gateway:1@30s", Fault{Kind: stats.FaultKillGateway, Shard: 1, At: 30 * time.Second}},
		{" kill-gateway:0@0s ", Fault{Kind: stats.FaultKillGateway, At: 0}},
		{"kill-dispatcher@1m", Fault{Kind: stats.FaultKillDispatcher, At: time.Minute}},
		{"stop-gateway:2@10s+5s", Fault{Kind: stats.FaultStopGateway, Shard: 2, At: 10 * time.Second, For: 5 * time.Second}},
		{"stop-dispatcher@1.5s+500ms", Fault{Kind: stats.FaultStopDispatcher, At: 1500 * time.Millisecond, For: 500 * time.Millisecond}},
	} {
		got, err := ParseFault(tc.spec)
		if err != nil {
			t.Fatalf("ParseFault(%q): %v", tc.spec, err)
		}
		tc.want.Spec = strings.TrimSpace(tc.spec)
		if got != tc.want {
			t.Errorf("ParseFault(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}

// Bad input is refused with what is wrong and the grammar.
func TestParseFaultBad(t *testing.T) {
	for _, tc := range []struct{ spec, why string }{
		{"", "no @"},
		{"kill-gateway:1", "no @"},
		{"kill-gateway@30s", "which gateway shard"},
		{"kill-gateway:x@30s", "not a number"},
		{"kill-gateway:-1@30s", "not a number"},
		{"kill-gateway:1@", "not a time"},
		{"kill-gateway:1@soon", "not a time"},
		{"kill-gateway:1@-5s", "not a time"},
		{"kill-gateway:1@30s+5s", "a kill has no duration"},
		{"kill-dispatcher:0@30s", "one process"},
		{"stop-gateway:1@30s", "how long stopped"},
		{"stop-gateway:1@30s+0s", "not a duration > 0"},
		{"stop-dispatcher@30s+x", "not a duration > 0"},
		{"reboot-host@30s", "unknown fault"},
		{"KILL-GATEWAY:1@30s", "unknown fault"},
	} {
		_, err := ParseFault(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "kill-gateway:N@T") {
			t.Errorf("ParseFault(%q) = %v, want an error saying %q with the grammar", tc.spec, err, tc.why)
		}
	}
}

func TestParseFaultsWithinHold(t *testing.T) {
	fs, err := ParseFaults([]string{"kill-gateway:1@10s", "stop-gateway:0@20s+5s"}, 30*time.Second)
	if err != nil || len(fs) != 2 {
		t.Fatalf("ParseFaults: %v, %v", fs, err)
	}
	if _, err := ParseFaults([]string{"kill-gateway:1@30s"}, 30*time.Second); err == nil || !strings.Contains(err.Error(), "--hold") {
		t.Errorf("a fault at the end of the hold: %v, want an error naming --hold", err)
	}
	if _, err := ParseFaults([]string{"kill-gateway:1@1h"}, 0); err != nil {
		t.Errorf("--hold 0 holds until Ctrl-C, any time is within it: %v", err)
	}
	if _, err := ParseFaults([]string{"kill-gateway:1@1s", "bad"}, 0); err == nil {
		t.Error("one bad --fault among good ones was accepted")
	}
	if err := checkShards(fs, 3); err != nil {
		t.Errorf("shards 0 and 1 of 3: %v", err)
	}
	if err := checkShards(fs, 1); err == nil || !strings.Contains(err.Error(), "--gateway-procs") {
		t.Errorf("shard 1 of 1: %v, want an error naming --gateway-procs", err)
	}
}
