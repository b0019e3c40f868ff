package stats

import (
	"time"

	"github.com/imtool/imtool/internal/host"
)

// RecordVersion is the schema version of Record written by this build.
// Readers accept every version from 1 up to this one.
const RecordVersion = 1

// Record is one run: what was asked, where it ran, what happened each second
// and the summary at the end. A swarm or bench run writes it as
// DIR/run.json; while the run goes on, DIR/series.jsonl receives one Sample
// per line, so an interrupted run still leaves something to report.
type Record struct {
	SchemaVersion int            `json:"schema_version"`
	Tool          string         `json:"tool"`    // "imtool dev"
	Command       string         `json:"command"` // swarm, bench
	Args          []string       `json:"args,omitempty"`
	Options       map[string]any `json:"options"`
	Environment   Environment    `json:"environment"`
	Started       time.Time      `json:"started"`
	Ended         time.Time      `json:"ended,omitzero"`
	Complete      bool           `json:"complete"`
	// Incomplete says why a run did not finish (interrupted, crashed, …).
	Incomplete string    `json:"incomplete,omitempty"`
	Series     []Sample  `json:"series,omitempty"`
	Summary    Summary   `json:"summary"`
	Teardown   *Teardown `json:"teardown,omitempty"`
	// Faults are the faults a bench applied to its servers (--fault).
	Faults  []FaultEvent `json:"faults,omitempty"`
	RawDial *RawDial     `json:"raw_dial,omitempty"`
	// Thresholds are the run's --threshold criteria and how they came out.
	Thresholds []ThresholdResult `json:"thresholds,omitempty"`
}

// ThresholdResult is one --threshold of a run, checked against its summary.
type ThresholdResult struct {
	Expr  string  `json:"expr"`           // as given: "heartbeat.p99<50ms"
	OK    bool    `json:"ok"`             // met
	Value float64 `json:"value"`          // the figure measured (latencies in seconds)
	Limit float64 `json:"limit"`          // what it was held against (a number, or the other figure)
	Unit  string  `json:"unit,omitempty"` // "s" for latencies
	Error string  `json:"error,omitempty"`
}

// ThresholdsFailed counts the thresholds not met.
func (r *Record) ThresholdsFailed() int {
	n := 0
	for _, t := range r.Thresholds {
		if !t.OK {
			n++
		}
	}
	return n
}

// RawDial is the floor a bench's ramp is compared with: the simplest epoll
// dialer there is (one process, one loop, no protocol) opening Conns
// connections into the same gateway just before the swarm starts.
type RawDial struct {
	Conns  int     `json:"conns"`
	Failed int     `json:"failed,omitempty"`
	Rate   float64 `json:"rate"` // established per second
}

// Teardown is what a run that started its own servers (bench) left behind:
// the host's memory before the run and after everything stopped, and how
// many of the processes it started were still there.
type Teardown struct {
	MemAvailableBefore int64   `json:"mem_available_before_bytes"`
	MemAvailableAfter  int64   `json:"mem_available_after_bytes"`
	RecoveredPercent   float64 `json:"recovered_percent"` // after as a percentage of before
	ProcessesStarted   int     `json:"processes_started"`
	ProcessesLeft      int     `json:"processes_left"`
	Errors             string  `json:"errors,omitempty"` // servers that did not stop cleanly
}

// Environment is the host a run happened on.
type Environment struct {
	host.Facts
	Tune []string `json:"tune,omitempty"` // one line per setting from `tune check`
}

// Host is the machine-wide state at one moment, read from the kernel.
type Host struct {
	MemAvailable int64   `json:"mem_available_bytes"`
	TCPInUse     int64   `json:"tcp_inuse"`     // /proc/net/sockstat TCP inuse
	TCPTimeWait  int64   `json:"tcp_timewait"`  // /proc/net/sockstat TCP tw
	TCPMemPages  int64   `json:"tcp_mem_pages"` // /proc/net/sockstat TCP mem
	CPUPercent   float64 `json:"cpu_percent"`   // all cores, 0..100
}

// Sample is one second of a run: the swarm's merged snapshot, the server
// side when it is known, and the host.
type Sample struct {
	T          float64   `json:"t"` // seconds since the run started
	Swarm      Snapshot  `json:"swarm"`
	Server     *Snapshot `json:"server,omitempty"`
	Dispatcher *Snapshot `json:"dispatcher,omitempty"`
	Host       *Host     `json:"host,omitempty"`
	// Fault is the state of the faults a bench applies, when one is under
	// way: "kill-gateway:1@30s: recovering, 13,201 of 20,000 back".
	Fault string `json:"fault,omitempty"`
}

// Summary is the end of a run in figures. Bytes per connection divide the
// growth of a process kind's RSS (or the host's MemAvailable drop) by the
// connections held.
type Summary struct {
	Requested int64 `json:"requested"`
	// Established counts connects made, redials included; PeakHeld is the
	// most connections held at once (at the samples and at the end).
	Established     int64            `json:"established"`
	PeakHeld        int64            `json:"peak_held"`
	Held            int64            `json:"held"`
	Dropped         int64            `json:"dropped"`
	Churned         int64            `json:"churned,omitempty"` // closed and redialed by --churn
	Drops           map[string]int64 `json:"drops,omitempty"`
	RampSeconds     float64          `json:"ramp_seconds"`
	ConnectRateMean float64          `json:"connect_rate_mean"`
	ConnectRatePeak float64          `json:"connect_rate_peak"`
	// RampCap is what set the ramp's pace: --rate, --max-inflight, errors,
	// or the gateway and the host.
	RampCap        string                    `json:"ramp_cap,omitempty"`
	HoldSeconds    float64                   `json:"hold_seconds"`
	ClientRSSBytes int64                     `json:"client_rss_bytes"`
	ClientBytesPer float64                   `json:"client_bytes_per_conn"`
	ServerRSSBytes int64                     `json:"server_rss_bytes,omitempty"`
	ServerBytesPer float64                   `json:"server_bytes_per_conn,omitempty"`
	ServerSessions int64                     `json:"server_sessions,omitempty"`
	HostBytesPer   float64                   `json:"host_bytes_per_conn,omitempty"`
	Errors         map[string]int64          `json:"errors"`
	Latency        map[string]LatencySummary `json:"latency,omitempty"`
	// HoldLatency is latency during the hold only, every connection up:
	// the run's figures at full load, without the ramp's.
	HoldLatency map[string]LatencySummary `json:"hold_latency,omitempty"`
	Sent        int64                     `json:"sent,omitempty"`
	Acked       int64                     `json:"acked,omitempty"`
	Delivered   int64                     `json:"delivered,omitempty"`
	Pings       int64                     `json:"pings,omitempty"`
	Pongs       int64                     `json:"pongs,omitempty"`
	ServerPings int64                     `json:"server_pings,omitempty"` // server pings a scenario answered
	Unsent      int64                     `json:"unsent,omitempty"`
	Unawaited   int64                     `json:"unawaited,omitempty"`  // sent, awaiting no answer (raw, a scenario without ack:)
	Expected    int64                     `json:"expected,omitempty"`   // deliveries a scenario expects
	Duplicated  int64                     `json:"duplicated,omitempty"` // a scenario's deliveries of a message delivered already
	// Fixes are the fixes a scenario file gives its own error classes.
	Fixes map[string]string `json:"fixes,omitempty"`
	// MQTT are the message counts per QoS of --proto mqtt.
	MQTT *MQTT `json:"mqtt,omitempty"`
	// Counts are the held connections by three independent sources (bench).
	Counts *Counts `json:"counts,omitempty"`
	// Recovery is, for each fault in Record.Faults that was applied, what
	// it did.
	Recovery []Recovery `json:"recovery,omitempty"`
	// Shortfall explains, when Held < Requested, why.
	Shortfall string `json:"shortfall,omitempty"`
}

// CountsTolerance is how far apart the independent counts may be and still
// agree: 0.1% of the largest.
const CountsTolerance = 0.001

// Counts are the connections held at the end of the hold, counted three
// ways that share no code: the swarm's held, the gateways' merged sessions,
// and the kernel's own count — the growth of /proc/net/sockstat TCP inuse
// since the baseline, halved, as both ends are on this host (bench only).
type Counts struct {
	T      float64 `json:"t"`               // the sample they come from
	Swarm  int64   `json:"swarm_held"`      // the swarm's held connections
	Server int64   `json:"server_sessions"` // the gateways' logged-in sessions
	Kernel int64   `json:"kernel"`          // (TCP inuse now − at the baseline) / 2
}

// Spread is the largest difference between two of the counts as a fraction
// of the largest count (0 when all are 0).
func (c Counts) Spread() float64 {
	hi := max(c.Swarm, c.Server, c.Kernel)
	lo := min(c.Swarm, c.Server, c.Kernel)
	if hi <= 0 {
		return 0
	}
	return float64(hi-lo) / float64(hi)
}

// Agree says the counts are within CountsTolerance of each other.
func (c Counts) Agree() bool { return c.Spread() <= CountsTolerance }

// LatencySummary is one latency histogram in figures (seconds).
type LatencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_s"`
	P50   float64 `json:"p50_s"`
	P90   float64 `json:"p90_s"`
	P99   float64 `json:"p99_s"`
	P999  float64 `json:"p999_s"`
	Max   float64 `json:"max_s"`
}

// Summarize turns a histogram into figures.
func Summarize(h Hist) LatencySummary {
	return LatencySummary{
		Count: h.Count,
		Mean:  h.Mean().Seconds(),
		P50:   h.Quantile(0.50).Seconds(),
		P90:   h.Quantile(0.90).Seconds(),
		P99:   h.Quantile(0.99).Seconds(),
		P999:  h.Quantile(0.999).Seconds(),
		Max:   time.Duration(h.Max).Seconds(),
	}
}

// Sink receives snapshots as a run goes: the dashboard, the plain progress
// line, the JSON-lines series, the HTTP endpoint. Update must not block the
// caller for long; Close ends the stream.
type Sink interface {
	Update(Sample)
	Close() error
}
