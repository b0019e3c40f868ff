package bench

import (
	"strings"
	"testing"

	"github.com/imtool/imtool/internal/stats"
)

// The samples of a storm are marked for the dashboard until it is over:
// a killed shard until the held count dipped and came back, a stopped
// process while it is stopped, a killed dispatcher until every gateway is
// linked to the new one. Faults that never ran are reported with why.
func TestFaultRunMarksStorms(t *testing.T) {
	r := newFaultRun(nil, []Fault{{Spec: "kill-gateway:1@9s", Kind: stats.FaultKillGateway, Shard: 1}})
	hold := func(t float64, held int64) *stats.Sample {
		return &stats.Sample{T: t, Swarm: stats.Snapshot{Phase: stats.PhaseHold, Held: held}}
	}
	r.onSample(&stats.Sample{T: 1, Swarm: stats.Snapshot{Phase: stats.PhaseRamp, Held: 10}})
	r.mu.Lock()
	r.held, r.started = 100, true // as if the hold had begun (no timers in this test)
	r.mu.Unlock()
	kill := r.add(stats.FaultEvent{Spec: "kill-gateway:1@1s", Kind: stats.FaultKillGateway, T: 2})
	stop := r.add(stats.FaultEvent{Spec: "stop-gateway:0@1s+2s", Kind: stats.FaultStopGateway, T: 2})
	r.add(stats.FaultEvent{Spec: "kill-gateway:5@1s", Kind: stats.FaultKillGateway, T: 2, Error: "gateway shard 5 is not running"})

	for _, tc := range []struct {
		smp  *stats.Sample
		want []string // in Sample.Fault
	}{
		{hold(3, 100), []string{"kill-gateway:1@1s: recovering, 100 of 100 held", "stop-gateway:0@1s+2s: stopped"}},
		{hold(4, 60), []string{"recovering, 60 of 100 held"}},
		{hold(5, 100), []string{"stop-gateway:0@1s+2s: stopped"}},
	} {
		r.onSample(tc.smp)
		for _, w := range tc.want {
			if !strings.Contains(tc.smp.Fault, w) {
				t.Errorf("at %.0f s: Fault %q, want it to say %q", tc.smp.T, tc.smp.Fault, w)
			}
		}
		if strings.Contains(tc.smp.Fault, "kill-gateway:5") {
			t.Errorf("a fault that was not applied is marked: %q", tc.smp.Fault)
		}
		if tc.smp.T == 5 && strings.Contains(tc.smp.Fault, "recovering") {
			t.Errorf("at 5 s the count is whole again, still marked: %q", tc.smp.Fault)
		}
	}
	r.mu.Lock()
	r.events[stop].EndT = 6
	r.mu.Unlock()
	smp := hold(7, 100)
	r.onSample(smp)
	if smp.Fault != "" {
		t.Errorf("after both storms: Fault %q, want none", smp.Fault)
	}
	if !r.over[kill] || !r.over[stop] {
		t.Errorf("storms over: kill %v, stop %v", r.over[kill], r.over[stop])
	}

	never := newFaultRun(nil, []Fault{{Spec: "kill-gateway:1@9s", Kind: stats.FaultKillGateway, Shard: 1}})
	evs := never.end()
	if len(evs) != 1 || !strings.Contains(evs[0].Error, "the hold never began") {
		t.Errorf("a run whose hold never began: %+v", evs)
	}
	if again := never.end(); len(again) != 1 {
		t.Errorf("end twice: %d events, want the same one", len(again))
	}
}
