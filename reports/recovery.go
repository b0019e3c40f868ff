package reports

import (
	"fmt"
	"strings"

	"github.com/imtool/imtool/internal/stats"
)

// recoveries measures each fault of the record from the samples around it
// (stats.Recovery). The samples are a second apart and the shards' own
// snapshots up to a second old, so a sample just after a fault may not show
// it yet: a storm is taken to be visible from the first sample that shows a
// drop (a kill of a gateway shard), or once the process is continued (a
// stop, whose shard's snapshot is stale meanwhile), and the count is whole
// again, and the gateways linked again, only from then on.
func recoveries(rec *stats.Record) []stats.Recovery {
	var out []stats.Recovery
	for _, ev := range rec.Faults {
		if ev.Error != "" {
			continue
		}
		if r, ok := recovery(rec.Series, ev); ok {
			out = append(out, r)
		}
	}
	return out
}

func recovery(series []stats.Sample, ev stats.FaultEvent) (stats.Recovery, bool) {
	i0 := -1
	for i, smp := range series {
		if smp.T <= ev.T {
			i0 = i
		}
	}
	if i0 < 0 || len(series) == 0 {
		return stats.Recovery{}, false
	}
	first, before := series[0], series[i0]
	r := stats.Recovery{Spec: ev.Spec, T: ev.T, HeldBefore: before.Swarm.Held, Sessions: ev.Sessions,
		LowestHeld: before.Swarm.Held, WholeS: -1, AgreeS: -1, LinkedS: -1}
	shards := 1
	if before.Server != nil && len(before.Server.Shards) > 0 {
		shards = len(before.Server.Shards)
	}
	end := i0
	seen := false // the storm is visible: a drop, or the fault is over
	for i := i0 + 1; i < len(series); i++ {
		smp := series[i]
		if smp.Swarm.Phase != stats.PhaseHold {
			break
		}
		end = i
		since := smp.T - ev.T
		r.LowestHeld = min(r.LowestHeld, smp.Swarm.Held)
		seen = seen || smp.Swarm.Dropped > before.Swarm.Dropped || smp.Swarm.Held < before.Swarm.Held ||
			(ev.EndT > 0 && smp.T > ev.EndT) || (ev.EndT == 0 && ev.Kind != stats.FaultKillGateway)
		if seen && r.LinkedS < 0 && linked(smp, shards) {
			r.LinkedS = since
		}
		// With --churn, the connections churned in the last second may be
		// redialing at any sample: they do not make the count short.
		whole := smp.Swarm.Held >= r.HeldBefore-(smp.Swarm.Churned-series[i-1].Swarm.Churned)
		if seen && r.WholeS < 0 && whole {
			r.WholeS = since
		}
		if r.WholeS >= 0 && r.AgreeS < 0 && whole {
			if c, ok := sampleCounts(first, smp); ok && c.Agree() {
				r.AgreeS = since
			}
		}
		if r.AgreeS >= 0 && r.LinkedS >= 0 {
			break
		}
	}
	last := series[end]
	r.Dropped = last.Swarm.Dropped - before.Swarm.Dropped
	r.Drops = mapSince(last.Swarm.Drops, before.Swarm.Drops)
	r.Errors = mapSince(last.Swarm.Errors, before.Swarm.Errors)
	r.Acks = mapSince(last.Swarm.Acks, before.Swarm.Acks)
	r.Reconnects = last.Swarm.Established - before.Swarm.Established
	r.Latency = latencies(last.Swarm.Latency, before.Swarm.Latency)
	if h := holdStart(series); h >= 0 && h < i0 {
		r.LatencyBefore = latencies(before.Swarm.Latency, series[h].Swarm.Latency)
	}
	for i := i0; i <= end; i++ {
		smp := series[i]
		p := stats.RecoveryPoint{T: smp.T - ev.T, Held: smp.Swarm.Held}
		if i > i0 {
			if dt := smp.T - series[i-1].T; dt > 0 {
				p.Established = float64(smp.Swarm.Established-series[i-1].Swarm.Established) / dt
			}
			r.PeakRate = max(r.PeakRate, p.Established)
		}
		if c, ok := sampleCounts(first, smp); ok {
			p.Server, p.Kernel = c.Server, c.Kernel
		}
		r.Curve = append(r.Curve, p)
	}
	return r, true
}

// sampleCounts are the three independent counts at one sample (see
// counts); false when the sample lacks the server or the host.
func sampleCounts(first, smp stats.Sample) (stats.Counts, bool) {
	if first.Host == nil || smp.Host == nil || smp.Server == nil || smp.Server.Down {
		return stats.Counts{}, false
	}
	return stats.Counts{T: smp.T, Swarm: smp.Swarm.Held, Server: smp.Server.Sessions,
		Kernel: (smp.Host.TCPInUse - first.Host.TCPInUse) / 2}, true
}

// linked: every one of shards gateway processes is up and linked to a
// dispatcher that counts them all.
func linked(smp stats.Sample, shards int) bool {
	srv, disp := smp.Server, smp.Dispatcher
	if srv == nil || srv.Down || disp == nil || disp.Down || disp.Gateways != int64(shards) {
		return false
	}
	parts := srv.Shards
	if len(parts) == 0 {
		parts = []stats.Snapshot{*srv}
	}
	if len(parts) != shards {
		return false
	}
	for _, p := range parts {
		if p.Down || p.Dispatcher != "up" {
			return false
		}
	}
	return true
}

// mapSince is now − then, key by key, without the zeros.
func mapSince(now, then map[string]int64) map[string]int64 {
	var out map[string]int64
	for k, v := range now {
		if d := v - then[k]; d != 0 {
			if out == nil {
				out = map[string]int64{}
			}
			out[k] = d
		}
	}
	return out
}

// recoveryLines are the summary's lines for each fault's recovery: what
// dropped, when it was whole and agreed again, the reconnect curve and
// what the storm cost the sessions held meanwhile.
func recoveryLines(rs []stats.Recovery) []string {
	var out []string
	after := func(s float64) string {
		if s < 0 {
			return "not within the hold"
		}
		return "after " + fmtDuration(s)
	}
	for _, r := range rs {
		head := fmt.Sprintf("%s at %s", r.Spec, fmtDuration(r.T))
		if r.Sessions > 0 {
			head += fmt.Sprintf(": the shard had %s sessions", stats.Thousands(r.Sessions))
		}
		out = append(out, head,
			fmt.Sprintf("  dropped %s%s; lowest held %s of %s", stats.Thousands(r.Dropped), causes(r.Drops), stats.Thousands(r.LowestHeld), stats.Thousands(r.HeldBefore)),
			fmt.Sprintf("  whole again %s; three counts agree %s; gateways linked %s", after(r.WholeS), after(r.AgreeS), after(r.LinkedS)),
			fmt.Sprintf("  reconnects %s, peak %s/s", stats.Thousands(r.Reconnects), fmtFloat(r.PeakRate)))
		var curve []string
		for _, p := range r.Curve {
			if p.T < 0 {
				curve = append(curve, "before "+stats.Thousands(p.Held))
			} else {
				curve = append(curve, fmt.Sprintf("%.0fs %s (+%s/s)", p.T, stats.Thousands(p.Held), fmtFloat(p.Established)))
			}
		}
		out = append(out, "  held by second: "+strings.Join(curve, " · "))
		var lat []string
		for _, k := range latencyOrder {
			if l, ok := r.Latency[k]; ok {
				s := fmt.Sprintf("%s p99 %s", k, fmtSeconds(l.P99))
				if b, ok := r.LatencyBefore[k]; ok {
					s += " (" + fmtSeconds(b.P99) + " before)"
				}
				lat = append(lat, s)
			}
		}
		if len(lat) > 0 {
			out = append(out, "  during the storm: "+strings.Join(lat, ", "))
		}
		errs := "none"
		if len(r.Errors) > 0 {
			errs = strings.TrimSuffix(strings.TrimPrefix(causes(r.Errors), " ("), ")")
		}
		acks := "none"
		if len(r.Acks) > 0 {
			acks = strings.TrimSuffix(strings.TrimPrefix(causes(r.Acks), " ("), ")")
		}
		out = append(out, "  errors: "+errs+"; ACKs: "+acks)
	}
	return out
}

// faultBounds are the faults applied, as marks on the charts' time axis
// beside the phases': a dashed line named after the fault.
func faultBounds(faults []stats.FaultEvent) []phaseBound {
	var out []phaseBound
	for _, f := range faults {
		if f.Error == "" {
			out = append(out, phaseBound{f.T, f.Spec})
		}
	}
	return out
}
