package stats

// Fault kinds a bench can schedule.
const (
	FaultKillGateway    = "kill-gateway"    // SIGKILL one gateway shard; its parent starts it again
	FaultKillDispatcher = "kill-dispatcher" // SIGKILL the dispatcher; bench starts it again
	FaultStopGateway    = "stop-gateway"    // SIGSTOP one gateway shard, SIGCONT after a while
	FaultStopDispatcher = "stop-dispatcher" // SIGSTOP the dispatcher, SIGCONT after a while
)

// FaultEvent is one fault a run applied to its own servers (bench --fault):
// what, to which process, and when on the run's clock.
type FaultEvent struct {
	Spec  string  `json:"spec"` // as given: kill-gateway:1@30s
	Kind  string  `json:"kind"`
	Shard int     `json:"shard,omitempty"` // the gateway shard, for gateway faults
	PID   int     `json:"pid,omitempty"`   // the process signalled
	T     float64 `json:"t"`               // seconds on the run's clock (Sample.T) when applied
	EndT  float64 `json:"end_t,omitempty"` // stop faults: when the process was continued
	// Sessions is the victim shard's logged-in sessions just before the
	// fault, by its own count (gateway faults).
	Sessions int64  `json:"sessions,omitempty"`
	Error    string `json:"error,omitempty"` // the fault could not be applied
}

// Recovery is what one fault did to the run, from the samples around it:
// how many connections dropped, how fast they came back, and what the rest
// of the system saw meanwhile. Times are seconds after the fault, at
// sample resolution; -1 means never, within the hold.
type Recovery struct {
	Spec string  `json:"spec"`
	T    float64 `json:"t"`
	// HeldBefore is the swarm's held connections at the sample before the
	// fault; Sessions the victim shard's own count then (FaultEvent).
	HeldBefore int64            `json:"held_before"`
	Sessions   int64            `json:"sessions,omitempty"`
	Dropped    int64            `json:"dropped"` // drops from the fault to recovery
	Drops      map[string]int64 `json:"drops,omitempty"`
	// LowestHeld is the fewest connections held in any sample of the storm.
	LowestHeld int64 `json:"lowest_held"`
	// WholeS: the held count is back to HeldBefore; AgreeS: the swarm's,
	// the gateways' and the kernel's counts agree again (CountsTolerance),
	// as many as before; LinkedS: every gateway shard is linked to the
	// dispatcher again.
	WholeS  float64 `json:"whole_after_s"`
	AgreeS  float64 `json:"agree_after_s"`
	LinkedS float64 `json:"linked_after_s"`
	// Reconnects are the connections established during the storm (a
	// redial that failed is an error, not a reconnect); PeakRate the most
	// in one second.
	Reconnects int64   `json:"reconnects"`
	PeakRate   float64 `json:"peak_reconnect_rate"`
	// Curve is the storm second by second, from the sample before the fault
	// to the one where the counts agree again (or the end of the hold).
	Curve []RecoveryPoint `json:"curve"`
	// Errors (by class) and ACK statuses counted during the storm, and the
	// latency of what happened then: connects and logins of the redials,
	// heartbeats and messages of the sessions held meanwhile.
	Errors  map[string]int64          `json:"errors,omitempty"`
	Acks    map[string]int64          `json:"acks,omitempty"`
	Latency map[string]LatencySummary `json:"latency,omitempty"`
	// LatencyBefore is the same latencies from the start of the hold to
	// the fault: what the storm is compared with.
	LatencyBefore map[string]LatencySummary `json:"latency_before,omitempty"`
}

// RecoveryPoint is one second of a storm.
type RecoveryPoint struct {
	T           float64 `json:"t"` // since the fault
	Held        int64   `json:"held"`
	Established float64 `json:"established_per_s"`
	Server      int64   `json:"server_sessions"`
	Kernel      int64   `json:"kernel"`
}
