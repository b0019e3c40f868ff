package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// faultRun applies a bench's faults to its services at their times into
// the hold and keeps what it did (stats.FaultEvent) for the record. The
// run's samples drive it (onSample): the first sample of the hold starts
// its clock, and each later one is marked while a fault is under way.
type faultRun struct {
	svc    *services
	faults []Fault
	stop   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	runStart time.Time // the run's clock (Sample.T) zero, as best seen from here
	started  bool
	held     int64 // the swarm's held connections at the latest sample
	events   []stats.FaultEvent
	before   []int64 // held before each event
	dipped   []bool  // a sample after the event held fewer
	over     []bool  // the event's storm is over, as the samples show
}

func newFaultRun(svc *services, faults []Fault) *faultRun {
	return &faultRun{svc: svc, faults: faults, stop: make(chan struct{})}
}

// onSample starts the schedule at the hold's first sample and marks the
// samples of a storm.
func (r *faultRun) onSample(smp *stats.Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = smp.Swarm.Held
	// A sample's T is read before the servers are polled, so now − T is
	// the run's start plus the polls' delay: the least such is the best
	// estimate. (The baseline, without a phase, has a clock of its own.)
	if smp.Swarm.Phase != "" {
		if est := time.Now().Add(-time.Duration(smp.T * float64(time.Second))); r.runStart.IsZero() || est.Before(r.runStart) {
			r.runStart = est
		}
	}
	if !r.started && smp.Swarm.Phase == stats.PhaseHold {
		r.started = true
		holdStart := time.Now()
		for _, f := range r.faults {
			r.wg.Add(1)
			go r.schedule(f, holdStart.Add(f.At))
		}
	}
	for i, ev := range r.events {
		if ev.Error != "" || r.over[i] {
			continue
		}
		state := ""
		switch ev.Kind {
		case stats.FaultStopGateway, stats.FaultStopDispatcher:
			if ev.EndT == 0 {
				state = "stopped"
			}
		case stats.FaultKillDispatcher:
			if !ready(*smp) {
				state = "gateways relinking"
			}
		case stats.FaultKillGateway:
			r.dipped[i] = r.dipped[i] || smp.Swarm.Held < r.before[i]
			if smp.Swarm.Held < r.before[i] || (!r.dipped[i] && smp.T < ev.T+5) {
				state = fmt.Sprintf("recovering, %s of %s held", stats.Thousands(smp.Swarm.Held), stats.Thousands(r.before[i]))
			}
		}
		if state == "" {
			r.over[i] = true
			continue
		}
		if smp.Fault != "" {
			smp.Fault += "; "
		}
		smp.Fault += ev.Spec + ": " + state
	}
}

// now is the run's clock.
func (r *faultRun) now() float64 { return time.Since(r.runStart).Seconds() }

func (r *faultRun) schedule(f Fault, at time.Time) {
	defer r.wg.Done()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	ev := stats.FaultEvent{Spec: f.Spec, Kind: f.Kind, Shard: f.Shard}
	select {
	case <-r.stop:
		ev.Error = "not applied: the hold ended before its time"
		r.add(ev)
		return
	case <-t.C:
	}
	err := r.apply(f, &ev)
	if err != nil {
		ev.Error = err.Error()
	}
	idx := r.add(ev)
	if err != nil || f.For == 0 {
		return
	}
	// A stopped process is continued at its time, or when the run ends
	// first: the teardown's SIGTERM would wait on it otherwise.
	t.Reset(f.For)
	select {
	case <-r.stop:
	case <-t.C:
	}
	_ = sendSignal(ev.PID, sigCont, "")
	r.mu.Lock()
	r.events[idx].EndT = r.now()
	r.mu.Unlock()
}

func (r *faultRun) add(ev stats.FaultEvent) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.T == 0 {
		ev.T = r.now()
	}
	r.events = append(r.events, ev)
	r.before = append(r.before, r.held)
	r.dipped = append(r.dipped, false)
	r.over = append(r.over, false)
	return len(r.events) - 1
}

// apply does f now and fills in ev's process, time and victim's sessions.
// The time is taken once the signal is sent (and a killed dispatcher gone),
// so every sample after it sees the fault.
func (r *faultRun) apply(f Fault, ev *stats.FaultEvent) error {
	defer func() { ev.T = r.clock() }()
	switch f.Kind {
	case stats.FaultKillDispatcher:
		pid, err := r.svc.killDispatcher()
		ev.PID = pid
		return err
	case stats.FaultStopDispatcher:
		ev.PID = r.svc.dispatcherPID()
		return sendSignal(ev.PID, sigStop, "the dispatcher")
	}
	// A gateway shard: its pid and sessions from the gateway's /stats now.
	srv, _ := r.svc.observe(context.Background())
	if srv == nil || srv.Down {
		return fmt.Errorf("the gateway's /stats did not answer: shard %d not found", f.Shard)
	}
	shards := srv.Shards
	if f.Shard >= len(shards) || shards[f.Shard].PID == 0 || shards[f.Shard].Down {
		return fmt.Errorf("gateway shard %d is not running (%d shards)", f.Shard, len(shards))
	}
	sh := shards[f.Shard]
	ev.PID, ev.Sessions = sh.PID, sh.Sessions
	sig := sigKill
	if f.Kind == stats.FaultStopGateway {
		sig = sigStop
	}
	return sendSignal(ev.PID, sig, fmt.Sprintf("gateway shard %d", f.Shard))
}

func (r *faultRun) clock() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now()
}

// end cancels the faults still to come, continues any stopped process and
// returns every fault: applied, or with the reason it was not.
func (r *faultRun) end() []stats.FaultEvent {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		for _, f := range r.faults {
			r.events = append(r.events, stats.FaultEvent{Spec: f.Spec, Kind: f.Kind, Shard: f.Shard,
				Error: "not applied: the hold never began"})
		}
		r.started = true // once
	}
	return append([]stats.FaultEvent(nil), r.events...)
}
