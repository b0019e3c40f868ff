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

// view is a record laid out as the tables every format shows; the
// renderers differ only in how they draw them.
type view struct {
	Title      string
	Incomplete string // why the run did not finish; empty when it did
	Summary    []row
	Shortfall  string
	Thresholds []row // "✓ heartbeat.p99<50ms" → "12.3 ms"
	Latency    table
	Errors     []errorRow
	Faults     []string // each fault's recovery, a few lines each (recoveryLines)
	Env        []row
	Tune       []string
	Options    []row
}

type row struct{ Label, Value string }

type table struct {
	Header []string
	Rows   [][]string
}

type errorRow struct {
	Class, Count, Fix, Example string
}

// latencyOrder is the order latency kinds are shown in; others follow
// alphabetically.
var latencyOrder = []string{stats.LatConnect, stats.LatLogin, stats.LatHeartbeat, stats.LatAck, stats.LatDeliver, stats.LatLag}

func newView(rec *stats.Record) view {
	s := rec.Summary
	v := view{
		Title:      title(rec),
		Incomplete: incomplete(rec),
		Shortfall:  s.Shortfall,
		Tune:       rec.Environment.Tune,
		Faults:     recoveryLines(s.Recovery),
	}
	for _, f := range rec.Faults {
		if f.Error != "" {
			v.Faults = append(v.Faults, f.Spec+": "+f.Error)
		}
	}
	add := func(label, format string, args ...any) {
		v.Summary = append(v.Summary, row{label, fmt.Sprintf(format, args...)})
	}
	add("requested", "%s", stats.Thousands(s.Requested))
	if s.PeakHeld > 0 || s.Established == 0 {
		add("achieved", "%s held at most at once; %s connects made (redials included)", stats.Thousands(s.PeakHeld), stats.Thousands(s.Established))
	} else { // a record from before peak_held
		add("achieved", "%s connects made (redials included)", stats.Thousands(s.Established))
	}
	add("held at end", "%s", stats.Thousands(s.Held))
	add("dropped", "%s%s", stats.Thousands(s.Dropped), causes(s.Drops))
	if s.Churned > 0 {
		add("churned", "%s closed and redialed during the hold (--churn): %s/s", stats.Thousands(s.Churned), fmtFloat(float64(s.Churned)/max(s.HoldSeconds, 1)))
	}
	if s.RampCap != "" {
		add("ramp", "%s, paced by %s", fmtDuration(s.RampSeconds), s.RampCap)
	} else {
		add("ramp", "%s", fmtDuration(s.RampSeconds))
	}
	if proto, _ := rec.Options["proto"].(string); proto != "" && proto != "imtool" {
		add("protocol", "%s", proto)
	}
	for _, n := range planNotes(rec) {
		if strings.HasPrefix(n, "TLS ") {
			add("engine", "%s", n)
		}
	}
	add("connect rate", "%s conn/s mean, %s conn/s peak", fmtFloat(s.ConnectRateMean), fmtFloat(s.ConnectRatePeak))
	if rd := rec.RawDial; rd != nil && rd.Rate > 0 {
		add("raw dialer", "%s conn/s (%s connections, one process, into the same gateway before the run): the ramp's mean is %.0f%% of it%s",
			fmtFloat(rd.Rate), stats.Thousands(int64(rd.Conns)), 100*s.ConnectRateMean/rd.Rate, pacedBy(s.RampCap))
	}
	add("hold", "%s", fmtDuration(s.HoldSeconds))
	if s.ClientRSSBytes > 0 {
		add("client memory", "%s per connection (private memory growth; %s RSS at end)", fmtBytes(s.ClientBytesPer), fmtBytes(float64(s.ClientRSSBytes)))
	}
	if s.ServerRSSBytes > 0 {
		add("server memory", "%s per session (private memory growth; %s RSS at end, %s sessions)", fmtBytes(s.ServerBytesPer), fmtBytes(float64(s.ServerRSSBytes)), stats.Thousands(s.ServerSessions))
	}
	if s.HostBytesPer > 0 {
		add("host memory", "%s per connection (drop of MemAvailable)", fmtBytes(s.HostBytesPer))
	}
	if (s.Sent > 0 || s.Delivered > 0) && s.MQTT == nil { // MQTT: per QoS below (QoS 0 has no acknowledgement)
		line := fmt.Sprintf("%s sent, %s acked, %s delivered, %s unaccounted (sent, never acked)",
			stats.Thousands(s.Sent), stats.Thousands(s.Acked), stats.Thousands(s.Delivered), stats.Thousands(max(s.Sent-s.Unawaited-s.Acked, 0)))
		if s.Unawaited > 0 {
			line += fmt.Sprintf("; %s await no answer", stats.Thousands(s.Unawaited))
		}
		if s.Expected > 0 {
			line += fmt.Sprintf("; %s deliveries expected, %s lost", stats.Thousands(s.Expected), stats.Thousands(max(s.Expected-s.Delivered, 0)))
		}
		if s.Duplicated > 0 {
			line += fmt.Sprintf("; %s delivered twice (or more)", stats.Thousands(s.Duplicated))
		}
		add("messages", "%s", line)
	}
	if m := s.MQTT; m != nil {
		for q := range 3 {
			if m.Sent[q]+m.Received[q]+m.Expected[q] == 0 {
				continue
			}
			if m.ExpectedUnknown {
				add(fmt.Sprintf("mqtt qos %d", q), "%s sent, %s acked, %s received, %s duplicated; lost not known: the subscriptions have a wildcard before their {i} or {uid}, so which connections a topic reaches is the broker's to say (%s refused, %s unacked, %s blocked by the in-flight window, %s retained)",
					stats.Thousands(m.Sent[q]), stats.Thousands(m.Acked[q]), stats.Thousands(m.Received[q]), stats.Thousands(m.Duplicated[q]),
					stats.Thousands(m.Refused[q]), stats.Thousands(m.Unacked[q]), stats.Thousands(m.Blocked[q]), stats.Thousands(m.Retained[q]))
				continue
			}
			add(fmt.Sprintf("mqtt qos %d", q), "%s sent, %s acked, %s received, %s lost, %s duplicated (%s expected by the subscriptions; %s refused, %s unacked, %s blocked by the in-flight window, %s retained)",
				stats.Thousands(m.Sent[q]), stats.Thousands(m.Acked[q]), stats.Thousands(m.Received[q]), stats.Thousands(m.Lost[q]), stats.Thousands(m.Duplicated[q]),
				stats.Thousands(m.Expected[q]), stats.Thousands(m.Refused[q]), stats.Thousands(m.Unacked[q]), stats.Thousands(m.Blocked[q]), stats.Thousands(m.Retained[q]))
		}
	}
	if s.Unsent > 0 {
		add("not sent", "%s messages and PINGs: their connection's send queue was full, the server was not reading them", stats.Thousands(s.Unsent))
	}
	if c := s.Counts; c != nil {
		verdict := "agree"
		if !c.Agree() {
			verdict = "DISAGREE"
		}
		add("counts", "%s swarm held, %s gateway sessions, %s kernel (sockstat) at %s: %s within %.1f%% (spread %.3f%%)",
			stats.Thousands(c.Swarm), stats.Thousands(c.Server), stats.Thousands(c.Kernel), fmtDuration(c.T), verdict, 100*stats.CountsTolerance, 100*c.Spread())
	}
	if s.Pings > 0 {
		add("heartbeats", "%s pings, %s pongs", stats.Thousands(s.Pings), stats.Thousands(s.Pongs))
	}
	if s.ServerPings > 0 {
		add("server pings", "%s answered", stats.Thousands(s.ServerPings))
	}
	var errs int64
	for _, n := range s.Errors {
		errs += n
	}
	add("errors", "%s%s", stats.Thousands(errs), causes(s.Errors))
	if td := rec.Teardown; td != nil {
		left := "all ended"
		if td.ProcessesLeft > 0 {
			left = fmt.Sprintf("%d STILL RUNNING", td.ProcessesLeft)
		}
		add("teardown", "%d processes started, %s; MemAvailable %s before, %s after (%.1f%%)%s",
			td.ProcessesStarted, left, fmtBytes(float64(td.MemAvailableBefore)), fmtBytes(float64(td.MemAvailableAfter)), td.RecoveredPercent, orNote(td.Errors))
	}

	v.Latency.Header = []string{"latency", "count", "p50", "p99", "p99.9", "max"}
	for _, lat := range []struct {
		m      map[string]stats.LatencySummary
		suffix string
	}{{s.Latency, ""}, {s.HoldLatency, " (hold)"}} {
		for _, kind := range latencyKinds(lat.m) {
			l := lat.m[kind]
			v.Latency.Rows = append(v.Latency.Rows, []string{kind + lat.suffix, stats.Thousands(l.Count),
				fmtSeconds(l.P50), fmtSeconds(l.P99), fmtSeconds(l.P999), fmtSeconds(l.Max)})
		}
	}

	for _, t := range rec.Thresholds {
		v.Thresholds = append(v.Thresholds, thresholdRow(t))
	}

	var examples, fixes map[string]string
	if n := len(rec.Series); n > 0 {
		examples, fixes = rec.Series[n-1].Swarm.ErrorExample, rec.Series[n-1].Swarm.Fixes
	}
	for _, class := range byCount(s.Errors) {
		v.Errors = append(v.Errors, errorRow{class, stats.Thousands(s.Errors[class]), stats.FixIn(fixes, class), examples[class]})
	}

	e := rec.Environment
	v.Env = []row{
		{"host", e.Hostname},
		{"system", strings.TrimSpace(fmt.Sprintf("%s/%s %s", e.OS, e.Arch, e.Kernel))},
		{"CPUs", strconv.Itoa(e.CPUs)},
		{"memory", fmt.Sprintf("%s total, %s available at start", fmtBytes(float64(e.MemTotal)), fmtBytes(float64(e.MemAvailable)))},
		{"RLIMIT_NOFILE", fmt.Sprintf("%s soft, %s hard", stats.Thousands(e.NofileSoft), stats.Thousands(e.NofileHard))},
		{"local port range", fmt.Sprintf("%d–%d (%s ports)", e.PortRange[0], e.PortRange[1], stats.Thousands(int64(max(e.PortRange[1]-e.PortRange[0]+1, 0))))},
		{"Go", e.GoVersion},
		{"tool", rec.Tool},
		{"started", stamp(rec.Started)},
	}
	if !rec.Ended.IsZero() {
		v.Env = append(v.Env, row{"ended", stamp(rec.Ended)})
	}
	if len(rec.Args) > 0 {
		v.Env = append(v.Env, row{"command line", strings.Join(rec.Args, " ")})
	}
	for _, k := range stats.SortedKeys(rec.Options) {
		v.Options = append(v.Options, row{k, optionValue(rec.Options[k])})
	}
	return v
}

// thresholdRow shows a threshold as met (✓) or not (✗) with the figure
// measured, or why it could not be.
func thresholdRow(t stats.ThresholdResult) row {
	mark := "✓"
	if !t.OK {
		mark = "✗"
	}
	value := t.Error
	if value == "" {
		if t.Unit == "s" {
			value = fmtSeconds(t.Value) + " (limit " + fmtSeconds(t.Limit) + ")"
		} else {
			value = fmtFloat(t.Value) + " (limit " + fmtFloat(t.Limit) + ")"
		}
	}
	return row{mark + " " + t.Expr, value}
}

func title(rec *stats.Record) string {
	cmd := rec.Command
	if cmd == "" {
		cmd = "run"
	}
	t := fmt.Sprintf("imtool %s: %s connections", cmd, stats.Thousands(rec.Summary.Requested))
	if rec.Environment.Hostname != "" {
		t += " on " + rec.Environment.Hostname
	}
	if !rec.Started.IsZero() {
		t += ", " + stamp(rec.Started)
	}
	return t
}

func incomplete(rec *stats.Record) string {
	if rec.Complete {
		return ""
	}
	if rec.Incomplete != "" {
		return rec.Incomplete
	}
	return "the run did not finish"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// causes lists counts by cause, largest first: " (reset 20, idle 3)".
func causes(m map[string]int64) string {
	var parts []string
	for _, k := range byCount(m) {
		parts = append(parts, k+" "+stats.Thousands(m[k]))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// byCount returns m's keys with a non-zero count, largest count first.
func byCount(m map[string]int64) []string {
	var keys []string
	for _, k := range stats.SortedKeys(m) {
		if m[k] != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortStableFunc(keys, func(a, b string) int { return int(min(max(m[b]-m[a], -1), 1)) })
	return keys
}

func latencyKinds[V any](m map[string]V) []string {
	var kinds []string
	for _, k := range latencyOrder {
		if _, ok := m[k]; ok {
			kinds = append(kinds, k)
		}
	}
	for _, k := range stats.SortedKeys(m) {
		if !slices.Contains(latencyOrder, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// optionValue writes an option as the user would have typed it; numbers
// come back from JSON as float64 and must not turn into 1e+06.
func optionValue(v any) string {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmt.Sprint(v)
}

func orNote(s string) string {
	if s == "" {
		return ""
	}
	return "; " + s
}

// planNotes are the plan's notes in the record's options: []string in a
// record being written, []any in one read back from JSON.
func planNotes(rec *stats.Record) []string {
	switch v := rec.Options["plan_notes"].(type) {
	case []string:
		return v
	case []any:
		var out []string
		for _, n := range v {
			if s, ok := n.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// pacedBy names what paced the ramp, for the raw dialer's comparison.
func pacedBy(cap string) string {
	if cap == "" {
		return ""
	}
	return ", paced by " + cap
}
