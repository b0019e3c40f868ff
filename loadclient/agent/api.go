package agent

import (
	"net/netip"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
)

// Paths of the control API (docs/AGENTS.md). Every request carries
// "Authorization: Bearer TOKEN"; without the right token the answer is 401
// and nothing happens.
const (
	PathInfo    = "/v1/info"               // GET: Info
	PathRuns    = "/v1/runs"               // POST: RunRequest → Status (?dry_run=1 checks only)
	PathCurrent = "/v1/runs/current"       // GET: Status of the current (or last) run
	PathStats   = "/v1/runs/current/stats" // GET: Status with the live snapshot; the coordinator's heartbeat
	// POST PathCurrent + "/" + a lifecycle.Command (stop, quiet, pause or
	// resume): the control lines of a shard, so an agent's run obeys
	// exactly what a local one does.
)

// Run states.
const (
	StateRunning = "running"
	StateDone    = "done"
)

// Info is what an agent says about its host: the coordinator plans with
// Environment and SourceIPs, and keeps Environment in the run record.
type Info struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	// Environment is the host's facts: the local port range, RLIMIT_NOFILE
	// and CPUs a plan needs, and what the run record keeps.
	Environment loadclient.Env `json:"environment"`
	// SourceIPs are the addresses the operator let this agent dial from
	// (imtool agent --source-ips); empty: the kernel chooses.
	SourceIPs []netip.Addr `json:"source_ips"`
	// Addresses are every unicast address of the host, for the person
	// choosing --source-ips.
	Addresses    []netip.Addr   `json:"addresses"`
	AllowTargets []netip.Prefix `json:"allow_targets"`
	GraceS       float64        `json:"grace_s"`
	Run          *Status        `json:"run,omitempty"` // the current or last run
}

// RunRequest starts a run: a slice of a swarm, as loadclient.Options in
// their one JSON encoding (field names as in Go, durations in nanoseconds,
// AuthSecret in base64; the same that carries them to shards).
type RunRequest struct {
	// ID names the run (the coordinator's choice), for logs and Status.
	ID      string             `json:"id"`
	Options loadclient.Options `json:"options"`
}

// Status is a run as the agent sees it.
type Status struct {
	ID      string    `json:"id"`
	State   string    `json:"state"` // StateRunning or StateDone
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// StopReason says who ended the run: the coordinator, or the agent
	// itself when the coordinator went silent for longer than the grace.
	StopReason string `json:"stop_reason,omitempty"`
	Error      string `json:"error,omitempty"` // the run failed
	// Plan is the agent's own plan of the slice, in words.
	Plan string `json:"plan,omitempty"`
	// Snapshot is the run now (the baseline in the answer to a start, the
	// final snapshot once done); histograms travel as mergeable data.
	Snapshot stats.Snapshot `json:"snapshot"`
}

// apiError is the body of every answer that is not 2xx.
type apiError struct {
	Error string `json:"error"`
}
