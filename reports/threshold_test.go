package reports

import (
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/stats"
)

func TestThresholds(t *testing.T) {
	s := stats.Summary{Requested: 100, Held: 100, Established: 100, Errors: map[string]int64{"econnrefused": 2},
		ConnectRateMean: 5000, ClientBytesPer: 1500,
		HoldLatency: map[string]stats.LatencySummary{"heartbeat": {Count: 10, P99: 0.042, P999: 0.080}, "mqtt_puback": {Count: 5, P99: 0.003}},
		Latency:     map[string]stats.LatencySummary{"ack": {Count: 10, P99: 0.001}},
		MQTT:        &stats.MQTT{Lost: [3]int64{3, 0, 0}, Duplicated: [3]int64{0, 2, 0}}}
	for _, tc := range []struct {
		expr    string
		ok      bool
		value   float64
		errText string
	}{
		{"heartbeat.p99<50ms", true, 0.042, ""},
		{"heartbeat.p99 < 40ms", false, 0.042, ""},
		{"heartbeat.p99.9<=80", true, 0.080, ""}, // a bare number is milliseconds
		{"held==requested", true, 100, ""},
		{"held!=requested", false, 100, ""},
		{"errors==0", false, 2, ""},
		{"connect_rate_mean>=5k", true, 5000, ""},
		{"client_bytes_per_conn<1.5KiB", true, 1500, ""},
		{"ack.p99<10ms", false, 0, "ack.p99 was not measured during the hold"}, // whole-run only: not a hold figure
		{"mqtt_lost==0", false, 3, ""},
		{"mqtt_duplicated<=2", true, 2, ""},
		{"mqtt_puback.p99<5ms", true, 0.003, ""},
	} {
		th, err := ParseThreshold(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		r := th.Check(s)
		if r.OK != tc.ok || r.Value != tc.value || r.Error != tc.errText || r.Expr != strings.TrimSpace(tc.expr) {
			t.Errorf("%q: %+v, want ok %v value %v error %q", tc.expr, r, tc.ok, tc.value, tc.errText)
		}
	}
}

func TestThresholdErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"heartbeat.p99", "write FIGURE OP VALUE"},
		{"hb.p98<50ms", `no figure "hb.p98"`},
		{"heartbeat.p99<fast", `"fast" is not a duration: write 50ms`},
		{"held>=lots", `"lots" is not a number`},
		{"<5", "write FIGURE OP VALUE"},
	} {
		if _, err := ParseThreshold(tc.expr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.expr, err, tc.want)
		}
	}
}

// FuzzParseThreshold: any text is parsed or refused with a message, never
// a panic; what parses checks against any summary and keeps its text.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"heartbeat.p99<50ms", "held==requested", "errors==0", "ack.p99.9<=1.5s", "client_bytes_per_conn<2KiB", "<", "a<<b", "lag.max>=µs", "held>=5k"} {
		f.Add(s)
	}
	s := stats.Summary{Requested: 10, Held: 9, HoldLatency: map[string]stats.LatencySummary{"heartbeat": {Count: 3, P99: 0.01}}}
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 256 { // a threshold is a short expression; long inputs only slow minimizing
			return
		}
		th, err := ParseThreshold(expr)
		if err != nil {
			if !strings.Contains(err.Error(), "--threshold") {
				t.Fatalf("%q: the error does not name the flag: %v", expr, err)
			}
			return
		}
		if r := th.Check(s); r.Expr != strings.TrimSpace(expr) {
			t.Fatalf("%q checked as %q", expr, r.Expr)
		}
	})
}
