package reports

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/imtool/imtool/internal/stats"
)

// Summarize computes a run's figures from its series: what was asked
// (Options["conns"], else the swarm's target), what was reached, how fast,
// what it cost in memory and what went wrong. Counters come from the last
// sample, since they are cumulative; latency figures from the last sample's
// histograms, which hold every sample of the run.
//
// The ramp starts when the first connect is attempted (at the sample before
// the first one with attempts, as samples close an interval) and ends at the
// first sample where the target is established, or at the last ramp-phase
// sample when it never is. Bytes per connection divide memory growth since
// the first sample — the highest private memory (Process.UserBytes) during
// the hold, or the lowest host MemAvailable — by the connections held at
// the end.
func Summarize(rec *stats.Record) stats.Summary {
	var s stats.Summary
	s.Requested = requested(rec)
	s.Errors = map[string]int64{}
	series := rec.Series
	if len(series) == 0 {
		return s
	}
	first, last := series[0], series[len(series)-1]

	s.Held = last.Swarm.Held
	s.PeakHeld = s.Held
	s.Dropped = last.Swarm.Dropped
	s.Churned = last.Swarm.Churned
	s.Drops = last.Swarm.Drops
	for class, n := range last.Swarm.Errors {
		s.Errors[class] = n
	}
	s.Sent, s.Acked, s.Delivered = last.Swarm.Sent, last.Swarm.Acked, last.Swarm.Delivered
	s.Pings, s.Pongs, s.Unsent = last.Swarm.Pings, last.Swarm.Pongs, last.Swarm.Unsent
	s.ServerPings, s.Fixes, s.Unawaited, s.Expected = last.Swarm.ServerPings, last.Swarm.Fixes, last.Swarm.Unawaited, last.Swarm.Expected
	s.Duplicated = last.Swarm.Duplicated
	s.MQTT = last.Swarm.MQTT
	s.ClientRSSBytes = last.Swarm.RSSBytes
	for i, smp := range series {
		s.Established = max(s.Established, smp.Swarm.Established)
		s.PeakHeld = max(s.PeakHeld, smp.Swarm.Held)
		s.ConnectRatePeak = max(s.ConnectRatePeak, connectRate(series, i))
	}

	rampStart, rampEnd := rampBounds(series, s.Requested)
	if exact := last.Swarm.RampSeconds(); exact > 0 {
		s.RampSeconds = exact
		s.ConnectRateMean = float64(last.Swarm.RampEstablished) / exact
		s.RampCap = rampCap(rec, last.Swarm, s.ConnectRateMean)
		// The sampled peak averages a whole sample interval: a ramp
		// shorter than one peaks at least at its own mean.
		s.ConnectRatePeak = max(s.ConnectRatePeak, s.ConnectRateMean)
	} else if rampEnd >= 0 {
		start := 0.0
		if rampStart > 0 {
			start = series[rampStart-1].T
		}
		s.RampSeconds = series[rampEnd].T - start
		if s.RampSeconds > 0 {
			s.ConnectRateMean = float64(series[rampEnd].Swarm.Established) / s.RampSeconds
		}
	}

	hold := holdSamples(series)
	if len(hold) > 0 {
		// From the sample before the first of the hold to the last of it:
		// the final sample comes after quiet, drain and close, which take
		// tens of seconds on a loaded host and are not the hold.
		end := hold[len(hold)-1].T
		if i := holdStart(series); i > 0 {
			s.HoldSeconds = end - series[i-1].T
		} else {
			s.HoldSeconds = end
		}
	} else {
		hold = series // interrupted before the hold: use what there is
	}

	if s.Held > 0 {
		var peak int64
		for _, smp := range hold {
			peak = max(peak, smp.Swarm.UserBytes())
		}
		s.ClientBytesPer = perConn(peak-first.Swarm.UserBytes(), s.Held-first.Swarm.Held)
		if first.Host != nil && first.Host.MemAvailable > 0 {
			low := first.Host.MemAvailable
			for _, smp := range hold {
				if smp.Host != nil && smp.Host.MemAvailable > 0 {
					low = min(low, smp.Host.MemAvailable)
				}
			}
			s.HostBytesPer = perConn(first.Host.MemAvailable-low, s.Held-first.Swarm.Held)
		}
	}
	if srvFirst := firstServer(series); srvFirst != nil {
		// The server at its fullest during the hold: by the final sample the
		// swarm is closing and the sessions are already going.
		var peak int64
		for _, smp := range hold {
			if smp.Server != nil && !smp.Server.Down && smp.Server.Sessions >= s.ServerSessions {
				s.ServerSessions, s.ServerRSSBytes = smp.Server.Sessions, smp.Server.RSSBytes
				peak = max(peak, smp.Server.UserBytes())
			}
		}
		s.ServerBytesPer = perConn(peak-srvFirst.UserBytes(), s.ServerSessions-srvFirst.Sessions)
	}

	if rec.Command == "bench" {
		s.Counts = counts(first, hold)
	}

	s.Latency = latencies(last.Swarm.Latency, nil)
	if len(hold) > 1 && hold[0].Swarm.Phase == stats.PhaseHold {
		s.HoldLatency = latencies(hold[len(hold)-1].Swarm.Latency, hold[0].Swarm.Latency)
	}
	s.Recovery = recoveries(rec)
	s.Shortfall = shortfall(s, rec.Incomplete)
	return s
}

// rampCap says what set the ramp's pace: the --rate cap when the ramp kept
// to it, the --max-inflight window when most of the event loops' turns
// ended with dials waiting for it (the gateway completing connects and
// logins slower than the window let them start), otherwise errors or the
// gateway and the host themselves.
func rampCap(rec *stats.Record, sw stats.Snapshot, mean float64) string {
	rate, _ := number(rec.Options["rate"])
	window, _ := number(rec.Options["max_inflight"])
	turns := sw.RampPacedTurns + sw.RampWindowTurns
	var errs int64
	for _, n := range sw.Errors {
		errs += n
	}
	switch {
	case rate > 0 && mean >= 0.9*rate:
		return fmt.Sprintf("--rate (%s/s)", stats.Thousands(int64(rate)))
	case turns > 0 && sw.RampWindowTurns*2 > turns:
		return fmt.Sprintf("--max-inflight (%s connecting or logging in at once)", stats.Thousands(int64(window)))
	case sw.Attempts > 0 && errs*100 > sw.Attempts:
		return fmt.Sprintf("errors (%s of %s attempts)", stats.Thousands(errs), stats.Thousands(sw.Attempts))
	}
	return "the gateway and the host (below --rate, the window free)"
}

// number reads a JSON number of the run record's options.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// latencies summarises each histogram of h, less what it already held in
// prev when prev is given (the hold: last hold sample since the first).
func latencies(h, prev map[string]stats.Hist) map[string]stats.LatencySummary {
	var out map[string]stats.LatencySummary
	for kind, hk := range h {
		if p, ok := prev[kind]; ok {
			hk = hk.Since(p)
			hk.Max = int64(hk.Quantile(1)) // Since keeps the run's max
		}
		if hk.Count > 0 {
			if out == nil {
				out = map[string]stats.LatencySummary{}
			}
			out[kind] = stats.Summarize(hk)
		}
	}
	return out
}

// requested reads the connections asked for from the options, which come
// back from JSON as float64 and from a running command as int.
func requested(rec *stats.Record) int64 {
	switch v := rec.Options["conns"].(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case float64:
		return int64(v)
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	var target int64
	for _, smp := range rec.Series {
		target = max(target, smp.Swarm.Target)
	}
	return target
}

// connectRate is the swarm's connect rate over the interval ending at sample
// i: the swarm's own figure, or the growth of Established when it has none.
func connectRate(series []stats.Sample, i int) float64 {
	if r := series[i].Swarm.ConnectRate; r > 0 {
		return r
	}
	prevT, prevEst := 0.0, int64(0)
	if i > 0 {
		prevT, prevEst = series[i-1].T, series[i-1].Swarm.Established
	}
	if dt := series[i].T - prevT; dt > 0 && series[i].Swarm.Established > prevEst {
		return float64(series[i].Swarm.Established-prevEst) / dt
	}
	return 0
}

// rampBounds returns the indexes of the first sample with attempts and of
// the sample that ends the ramp; end is -1 when no connect was attempted.
func rampBounds(series []stats.Sample, target int64) (start, end int) {
	start, end = -1, -1
	for i, smp := range series {
		if start < 0 && smp.Swarm.Attempts > 0 {
			start = i
		}
		if start >= 0 && target > 0 && smp.Swarm.Established >= target {
			return start, i
		}
	}
	if start < 0 {
		return -1, -1
	}
	end = start
	for i := start; i < len(series); i++ {
		if series[i].Swarm.Phase == stats.PhaseRamp || series[i].Swarm.Phase == "" {
			end = i
		}
	}
	return start, end
}

func holdStart(series []stats.Sample) int {
	for i, smp := range series {
		if smp.Swarm.Phase == stats.PhaseHold {
			return i
		}
	}
	return -1
}

func holdSamples(series []stats.Sample) []stats.Sample {
	var hold []stats.Sample
	for _, smp := range series {
		if smp.Swarm.Phase == stats.PhaseHold {
			hold = append(hold, smp)
		}
	}
	return hold
}

// counts takes the independent counts at the middle of the hold, from the
// samples that have the server side and the host: nothing is connecting or
// closing then, so snapshots a few seconds old (shards answer late on a
// loaded host) still count the same connections. Near the end, the swarm
// may already be closing while a sample is read (a 1M run on two cores:
// 1.5% apart at the sample before the last, all three equal at the middle).
// The kernel's count is the growth of TCP sockets in use since the
// baseline (listeners and links are already there), halved: both ends are
// here.
func counts(first stats.Sample, hold []stats.Sample) *stats.Counts {
	if first.Host == nil {
		return nil
	}
	var valid []stats.Sample
	for _, smp := range hold {
		if smp.Server != nil && !smp.Server.Down && smp.Host != nil && smp.Swarm.Phase == stats.PhaseHold {
			valid = append(valid, smp)
		}
	}
	if len(valid) == 0 {
		return nil
	}
	smp := valid[len(valid)/2]
	return &stats.Counts{T: smp.T, Swarm: smp.Swarm.Held, Server: smp.Server.Sessions,
		Kernel: (smp.Host.TCPInUse - first.Host.TCPInUse) / 2}
}

func firstServer(series []stats.Sample) *stats.Snapshot {
	for _, smp := range series {
		if smp.Server != nil {
			return smp.Server
		}
	}
	return nil
}

func lastServer(series []stats.Sample) *stats.Snapshot {
	for i := len(series) - 1; i >= 0; i-- {
		if series[i].Server != nil {
			return series[i].Server
		}
	}
	return nil
}

// perConn divides memory growth by connections gained; 0 when either is
// not positive.
func perConn(growth, conns int64) float64 {
	if conns <= 0 || growth <= 0 {
		return 0
	}
	return float64(growth) / float64(conns)
}

// shortfall explains a run that holds fewer connections than asked for,
// naming the most frequent error class and its fix.
func shortfall(s stats.Summary, incomplete string) string {
	if s.Requested == 0 || s.Held >= s.Requested {
		return ""
	}
	msg := fmt.Sprintf("held %s of %s requested (%s short)",
		stats.Thousands(s.Held), stats.Thousands(s.Requested), stats.Thousands(s.Requested-s.Held))
	if class, n := top(s.Errors); n > 0 {
		msg += fmt.Sprintf("; most frequent error: %s (%s)", class, stats.Thousands(n))
		if fix := stats.FixIn(s.Fixes, class); fix != "" {
			msg += ": " + fix
		}
		return msg
	}
	if cause, n := top(s.Drops); n > 0 {
		return msg + fmt.Sprintf("; most connections were dropped by %s (%s)", cause, stats.Thousands(n))
	}
	if incomplete != "" {
		return msg + "; the run stopped before the ramp finished"
	}
	return msg + "; no errors were counted: the ramp may have been too short for the rate"
}

// top returns the key with the largest count (ties: the first in order).
func top(m map[string]int64) (string, int64) {
	var best string
	var n int64
	for _, k := range stats.SortedKeys(m) {
		if m[k] > n {
			best, n = k, m[k]
		}
	}
	return best, n
}
