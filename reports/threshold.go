package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// Threshold is a pass/fail criterion on a run's figures, as k6 has them:
// "heartbeat.p99<50ms", "held==requested", "errors==0". Latencies are the
// hold phase's (every connection up, the ramp left out).
type Threshold struct {
	Expr  string // as given
	Left  string // a figure (ThresholdFigures)
	Op    string // <, <=, >, >=, ==, !=
	Right string // a figure, or a number with an optional unit
	limit float64
	isRef bool // Right is a figure
}

// thresholdOps, longest first so "<=" is not read as "<".
var thresholdOps = []string{"<=", ">=", "==", "!=", "<", ">"}

// Count and rate figures a threshold may name; latency figures are
// KIND.STAT with STAT one of latencyStats (heartbeat.p99, ack.p99.9, …).
var countFigures = map[string]func(stats.Summary) float64{
	"requested":             func(s stats.Summary) float64 { return float64(s.Requested) },
	"established":           func(s stats.Summary) float64 { return float64(s.Established) },
	"peak_held":             func(s stats.Summary) float64 { return float64(s.PeakHeld) },
	"held":                  func(s stats.Summary) float64 { return float64(s.Held) },
	"dropped":               func(s stats.Summary) float64 { return float64(s.Dropped) },
	"errors":                func(s stats.Summary) float64 { return float64(sum(s.Errors)) },
	"sent":                  func(s stats.Summary) float64 { return float64(s.Sent) },
	"acked":                 func(s stats.Summary) float64 { return float64(s.Acked) },
	"delivered":             func(s stats.Summary) float64 { return float64(s.Delivered) },
	"pings":                 func(s stats.Summary) float64 { return float64(s.Pings) },
	"pongs":                 func(s stats.Summary) float64 { return float64(s.Pongs) },
	"ramp_seconds":          func(s stats.Summary) float64 { return s.RampSeconds },
	"connect_rate_mean":     func(s stats.Summary) float64 { return s.ConnectRateMean },
	"connect_rate_peak":     func(s stats.Summary) float64 { return s.ConnectRatePeak },
	"client_bytes_per_conn": func(s stats.Summary) float64 { return s.ClientBytesPer },
	"server_bytes_per_conn": func(s stats.Summary) float64 { return s.ServerBytesPer },
	"host_bytes_per_conn":   func(s stats.Summary) float64 { return s.HostBytesPer },
	"mqtt_lost": func(s stats.Summary) float64 {
		if s.MQTT != nil && s.MQTT.ExpectedUnknown {
			return math.NaN() // not known: no threshold on it is met
		}
		return float64(mqttSum(s.MQTT, func(m *stats.MQTT) [3]int64 { return m.Lost }))
	},
	"mqtt_duplicated": func(s stats.Summary) float64 {
		return float64(mqttSum(s.MQTT, func(m *stats.MQTT) [3]int64 { return m.Duplicated }))
	},
}

// mqttSum is a count of the MQTT counts summed over the QoS levels (0
// without MQTT).
func mqttSum(m *stats.MQTT, count func(*stats.MQTT) [3]int64) int64 {
	if m == nil {
		return 0
	}
	c := count(m)
	return c[0] + c[1] + c[2]
}

// thresholdLatencies are the latency kinds a threshold may name: those the
// reports show first, and MQTT's.
var thresholdLatencies = append(slices.Clip(latencyOrder), stats.LatMQTTConnect, stats.LatMQTTPubAck, stats.LatMQTTPubComp)

var latencyStats = map[string]func(stats.LatencySummary) float64{
	"p50": func(l stats.LatencySummary) float64 { return l.P50 }, "p90": func(l stats.LatencySummary) float64 { return l.P90 },
	"p99": func(l stats.LatencySummary) float64 { return l.P99 }, "p99.9": func(l stats.LatencySummary) float64 { return l.P999 },
	"max": func(l stats.LatencySummary) float64 { return l.Max }, "mean": func(l stats.LatencySummary) float64 { return l.Mean },
}

// ThresholdFigures lists what a threshold may name, for help and errors.
func ThresholdFigures() string {
	names := make([]string, 0, len(countFigures))
	for k := range countFigures {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ") + "; latency KIND.STAT with KIND " + strings.Join(thresholdLatencies, ", ") + " and STAT p50, p90, p99, p99.9, max, mean"
}

// ParseThreshold reads "FIGURE OP VALUE". VALUE is a number, with a unit for
// latencies (ms, s, us, µs, ns, m; a bare number is milliseconds) and
// optionally for bytes (KB, MB, KiB, MiB), or another figure.
func ParseThreshold(expr string) (Threshold, error) {
	t := Threshold{Expr: strings.TrimSpace(expr)}
	for _, op := range thresholdOps {
		if i := strings.Index(t.Expr, op); i > 0 {
			t.Left, t.Op, t.Right = strings.TrimSpace(t.Expr[:i]), op, strings.TrimSpace(t.Expr[i+len(op):])
			break
		}
	}
	if t.Op == "" || t.Left == "" || t.Right == "" {
		return t, fmt.Errorf("--threshold %q: write FIGURE OP VALUE, e.g. 'heartbeat.p99<50ms' or 'held==requested' (OP is <, <=, >, >=, == or !=)", expr)
	}
	if !isFigure(t.Left) {
		return t, fmt.Errorf("--threshold %q: no figure %q; figures are %s", expr, t.Left, ThresholdFigures())
	}
	if isFigure(t.Right) {
		t.isRef = true
		return t, nil
	}
	v, err := parseLimit(t.Right, isLatency(t.Left))
	if err != nil {
		return t, fmt.Errorf("--threshold %q: %w", expr, err)
	}
	t.limit = v
	return t, nil
}

func isFigure(name string) bool {
	if _, ok := countFigures[name]; ok {
		return true
	}
	return isLatency(name)
}

// isLatency says name is KIND.STAT, KIND one of the swarm's latencies.
func isLatency(name string) bool {
	for st := range latencyStats {
		if kind, ok := strings.CutSuffix(name, "."+st); ok && slices.Contains(thresholdLatencies, kind) {
			return true
		}
	}
	return false
}

// parseLimit reads a number; for a latency, a duration in seconds.
func parseLimit(s string, latency bool) (float64, error) {
	if latency {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v / 1e3, nil // a bare number is milliseconds, as k6 reads it
		}
		d, err := time.ParseDuration(strings.ReplaceAll(s, "µ", "u"))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: write 50ms, 1.5s, 800us", s)
		}
		return d.Seconds(), nil
	}
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"k", 1e3}, {"%", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number (or a figure)", s)
	}
	return v * mult, nil
}

// figure reads a figure from s; ok is false when the run did not measure it
// (a latency kind the run had no samples of during the hold).
func figure(s stats.Summary, name string) (float64, bool) {
	if f, ok := countFigures[name]; ok {
		return f(s), true
	}
	for st, f := range latencyStats {
		if kind, ok := strings.CutSuffix(name, "."+st); ok {
			l, ok := s.HoldLatency[kind]
			if !ok || l.Count == 0 {
				return 0, false
			}
			return f(l), true
		}
	}
	return 0, false
}

// Check evaluates t on a run's summary. A figure the run did not measure
// fails, saying so: a criterion that cannot be checked is not met.
func (t Threshold) Check(s stats.Summary) stats.ThresholdResult {
	r := stats.ThresholdResult{Expr: t.Expr}
	left, ok := figure(s, t.Left)
	if !ok {
		r.Error = fmt.Sprintf("%s was not measured during the hold", t.Left)
		return r
	}
	if math.IsNaN(left) { // a figure the run cannot know (mqtt_lost, ExpectedUnknown)
		r.Error = fmt.Sprintf("%s is not known for this run: the summary says why", t.Left)
		return r
	}
	limit := t.limit
	if t.isRef {
		if limit, ok = figure(s, t.Right); !ok {
			r.Error = fmt.Sprintf("%s was not measured during the hold", t.Right)
			return r
		}
	}
	r.Value, r.Limit = left, limit
	if isLatency(t.Left) {
		r.Unit = "s"
	}
	switch t.Op {
	case "<":
		r.OK = left < limit
	case "<=":
		r.OK = left <= limit
	case ">":
		r.OK = left > limit
	case ">=":
		r.OK = left >= limit
	case "==":
		r.OK = left == limit
	case "!=":
		r.OK = left != limit
	}
	return r
}

// CheckThresholds evaluates every threshold on s, in order.
func CheckThresholds(ts []Threshold, s stats.Summary) []stats.ThresholdResult {
	var out []stats.ThresholdResult
	for _, t := range ts {
		out = append(out, t.Check(s))
	}
	return out
}
