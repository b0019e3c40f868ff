package bench

import (
	"strings"
	"testing"
	"time"
)

// auto batches only when the bench's processes crowd the CPUs: a million
// on two cores with a 20,000-fd limit does, the default bench and 400,000
// do not, nor a million on sixteen cores; explicit settings are kept and
// bad ones refused with the fix.
func TestGatewayBatch(t *testing.T) {
	for _, tc := range []struct {
		conns int
		cpus  int
		want  time.Duration
	}{
		{100000, 2, 0},
		{400000, 2, 0},
		{1000000, 2, autoBatch},
		{1000000, 16, 0},
	} {
		d, note := autoGatewayBatch(tc.conns, 20000, tc.cpus)
		if d != tc.want || (d > 0) != strings.Contains(note, "--gateway-batch 0") {
			t.Errorf("%d connections on %d CPUs: batch %v (note %q), want %v", tc.conns, tc.cpus, d, note, tc.want)
		}
	}
	for setting, want := range map[string]time.Duration{"0": 0, "5ms": 5 * time.Millisecond, "250us": 250 * time.Microsecond} {
		if d, note, err := GatewayBatch(setting, 1000000, ""); err != nil || d != want || note != "" {
			t.Errorf("--gateway-batch %s: %v %q %v, want %v", setting, d, note, err, want)
		}
	}
	for _, bad := range []string{"fast", "-1ms", "2s"} {
		if _, _, err := GatewayBatch(bad, 1000, ""); err == nil || !strings.Contains(err.Error(), "give auto, 0 or a duration") {
			t.Errorf("--gateway-batch %s: %v, want a refusal that says what to give", bad, err)
		}
	}
}
