// Package stats holds the one snapshot type that travels everywhere in
// imtool — from gateways, dispatchers, swarm shards and agents to the
// dashboard, the coordinator and the reports — with its counters, mergeable
// latency histograms, process metrics and HTTP exposure (/stats JSON and
// /metrics for Prometheus). Consumers never learn where a number came from.
package stats

import (
	"maps"
	"sort"
	"time"
)

// Kinds of process that produce snapshots.
const (
	KindGateway    = "gateway"
	KindDispatcher = "dispatcher"
	KindSwarm      = "swarm"
)

// Swarm phases.
const (
	PhasePlan  = "plan"
	PhaseRamp  = "ramp"
	PhaseHold  = "hold"
	PhaseClose = "close"
	PhaseDone  = "done"
)

// Latency histogram names in Snapshot.Latency.
const (
	LatConnect    = "connect"       // connect() to established
	LatLogin      = "login"         // LOGIN sent to LOGIN_OK
	LatHeartbeat  = "heartbeat"     // planned PING time to PONG
	LatAck        = "ack"           // planned SEND time to ACK
	LatDeliver    = "deliver"       // SEND's sent_ts to DELIVER at the receiver
	LatLag        = "lag"           // how far the sender fell behind its schedule
	LatUpgrade    = "ws_upgrade"    // WebSocket upgrade request sent to its 101
	LatEcho       = "echo"          // planned message time to its echo (WebSocket)
	LatTLS        = "tls_handshake" // TLS handshake, full
	LatTLSResumed = "tls_resumed"   // TLS handshake, session resumed

	LatMQTTConnect = "mqtt_connect" // CONNECT written to CONNACK
	LatMQTTPubAck  = "mqtt_puback"  // QoS 1 PUBLISH planned to PUBACK
	LatMQTTPubComp = "mqtt_pubcomp" // QoS 2 PUBLISH planned to PUBCOMP
	LatMQTTSubAck  = "mqtt_suback"  // SUBSCRIBE written to SUBACK
)

// Process describes the process (or, merged, the processes) behind a snapshot.
type Process struct {
	PID      int   `json:"pid,omitempty"`
	RSSBytes int64 `json:"rss_bytes"`
	// PrivateBytes is the resident memory the process has to itself (RSS
	// less the file-backed pages, such as the binary, shared with others).
	PrivateBytes int64   `json:"private_bytes,omitempty"`
	HeapBytes    int64   `json:"heap_bytes"`
	FDs          int64   `json:"fds"`
	FDsAgeS      float64 `json:"fds_age_s,omitempty"` // how old the fd count is (kernels before 6.2 count it every 15-45 s)
	FDLimit      int64   `json:"fd_limit"`
	Goroutines   int64   `json:"goroutines"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	Processes    int64   `json:"processes"`
}

// Snapshot is the state of one process — or the sum of several — at one
// moment. Counters are cumulative since start; histograms too (use
// Hist.Since for an interval). Fields that do not apply to a kind stay zero
// and are left out of the JSON.
type Snapshot struct {
	Kind    string    `json:"kind"`
	ID      string    `json:"id,omitempty"` // gateway id, shard name or agent host
	Time    time.Time `json:"time"`
	UptimeS float64   `json:"uptime_s"`
	Down    bool      `json:"down,omitempty"` // the source stopped answering; numbers are its last
	Process

	// Connections are open TCP connections, Sessions logged-in ones (gateway);
	// for a dispatcher, Connections are gateway links and Sessions routed uids.
	Connections int64            `json:"connections"`
	Sessions    int64            `json:"sessions"`
	Ports       map[string]int64 `json:"ports,omitempty"` // port → open connections
	FramesIn    int64            `json:"frames_in"`
	FramesOut   int64            `json:"frames_out"`
	BytesIn     int64            `json:"bytes_in"`
	BytesOut    int64            `json:"bytes_out"`
	Errors      map[string]int64 `json:"errors"` // gateway: ERROR code name; swarm: error class
	Kicks       int64            `json:"kicks,omitempty"`
	Dispatcher  string           `json:"dispatcher,omitempty"` // gateway: its link state (up, down, none); dispatcher: up, or rebuilding its routes
	Gateways    int64            `json:"gateways,omitempty"`   // dispatcher: registered gateways
	SlowClients int64            `json:"slow_clients,omitempty"`
	Rejected    int64            `json:"rejected,omitempty"` // refused with ERROR 10 (server full)

	// Swarm.
	Phase       string           `json:"phase,omitempty"`
	Target      int64            `json:"target,omitempty"`
	Attempts    int64            `json:"attempts,omitempty"`
	Established int64            `json:"established"`
	Held        int64            `json:"held"`
	Dropped     int64            `json:"dropped"`
	Churned     int64            `json:"churned,omitempty"` // closed by the swarm's churn and redialed
	Drops       map[string]int64 `json:"drops,omitempty"`   // dropped by cause: server_close, kick, reset, idle
	SourceIPs   map[string]int64 `json:"source_ips,omitempty"`
	Sent        int64            `json:"sent,omitempty"`
	Sending     int64            `json:"sending,omitempty"` // swarm loops that may still send messages (until each sees quiet)
	Acked       int64            `json:"acked,omitempty"`
	Delivered   int64            `json:"delivered,omitempty"`
	Pings       int64            `json:"pings,omitempty"`
	Pongs       int64            `json:"pongs,omitempty"`
	// ServerPings are the server's pings a scenario answered (answers:).
	ServerPings int64 `json:"server_pings,omitempty"`
	// Unsent are messages and PINGs the swarm did not send because the
	// connection's send queue was full: the server was not reading.
	Unsent int64 `json:"unsent,omitempty"`
	// Unawaited are messages sent that await no answer (raw payloads, a
	// scenario without ack:): neither acknowledged nor lost.
	Unawaited int64 `json:"unawaited,omitempty"`
	// Expected are the deliveries a scenario expects: its acknowledged
	// messages (its sent ones, without ack:) when it has a deliver: rule.
	Expected int64 `json:"expected,omitempty"`
	// Duplicated are deliveries of a scenario's message that had arrived
	// already (by its {mid}); Delivered counts each message once.
	Duplicated  int64            `json:"duplicated,omitempty"`
	Acks        map[string]int64 `json:"acks,omitempty"` // ACK status name → count
	Latency     map[string]Hist  `json:"latency,omitempty"`
	Paused      bool             `json:"paused,omitempty"`
	MaxLagNS    int64            `json:"max_lag_ns,omitempty"`
	ConnectRate float64          `json:"connect_rate,omitempty"` // established per second over the last interval
	// The ramp timed exactly: the first dial and the last connection
	// established before the ramp was done (wall clock, ns), how many were
	// established by then, and how the event loops' turns of the ramp
	// ended: all the pacer had due dialed (capped by --rate) or dials left
	// waiting for the --max-inflight window.
	RampStartNS     int64             `json:"ramp_start_ns,omitempty"`
	RampEndNS       int64             `json:"ramp_end_ns,omitempty"`
	RampHeldNS      int64             `json:"ramp_held_ns,omitempty"` // the last connection held before the ramp was done
	RampEstablished int64             `json:"ramp_established,omitempty"`
	RampPacedTurns  int64             `json:"ramp_paced_turns,omitempty"`
	RampWindowTurns int64             `json:"ramp_window_turns,omitempty"`
	ErrorExample    map[string]string `json:"error_example,omitempty"`
	// Fixes are the fixes of error classes a scenario file names itself
	// (its errors: rules); Fix gives every class's.
	Fixes map[string]string `json:"fixes,omitempty"`
	// MQTT are the message counts per QoS of --proto mqtt.
	MQTT *MQTT `json:"mqtt,omitempty"`

	Shards []Snapshot `json:"shards,omitempty"`
}

// Merge sums parts into one snapshot of the given kind and id: counters and
// maps add, histograms merge, the phase is the least advanced one still
// running (ramp, not plan, once any part has begun). The parts themselves are kept in Shards.
func Merge(kind, id string, parts []Snapshot) Snapshot {
	out := Snapshot{Kind: kind, ID: id, Time: time.Now()}
	for _, p := range parts {
		out.add(p)
	}
	out.Phase = mergedPhase(parts)
	out.Shards = parts
	return out
}

func (s *Snapshot) add(p Snapshot) {
	s.UptimeS = max(s.UptimeS, p.UptimeS)
	s.RSSBytes += p.RSSBytes
	s.PrivateBytes += p.PrivateBytes
	s.HeapBytes += p.HeapBytes
	s.FDs += p.FDs
	s.FDsAgeS = max(s.FDsAgeS, p.FDsAgeS)
	s.FDLimit += p.FDLimit
	s.Goroutines += p.Goroutines
	s.CPUSeconds += p.CPUSeconds
	s.Processes += max(p.Processes, 1)
	s.Connections += p.Connections
	s.Sessions += p.Sessions
	s.FramesIn += p.FramesIn
	s.FramesOut += p.FramesOut
	s.BytesIn += p.BytesIn
	s.BytesOut += p.BytesOut
	s.Kicks += p.Kicks
	s.Gateways += p.Gateways
	s.SlowClients += p.SlowClients
	s.Rejected += p.Rejected
	s.Target += p.Target
	s.Attempts += p.Attempts
	s.Established += p.Established
	s.Held += p.Held
	s.Dropped += p.Dropped
	s.Churned += p.Churned
	s.Sent += p.Sent
	s.Sending += p.Sending
	s.Acked += p.Acked
	s.Delivered += p.Delivered
	s.Pings += p.Pings
	s.Pongs += p.Pongs
	s.ServerPings += p.ServerPings
	s.Unawaited += p.Unawaited
	s.Expected += p.Expected
	s.Duplicated += p.Duplicated
	s.Unsent += p.Unsent
	s.ConnectRate += p.ConnectRate
	if p.RampStartNS > 0 && (s.RampStartNS == 0 || p.RampStartNS < s.RampStartNS) {
		s.RampStartNS = p.RampStartNS
	}
	s.RampEndNS = max(s.RampEndNS, p.RampEndNS)
	s.RampHeldNS = max(s.RampHeldNS, p.RampHeldNS)
	s.RampEstablished += p.RampEstablished
	s.RampPacedTurns += p.RampPacedTurns
	s.RampWindowTurns += p.RampWindowTurns
	s.MaxLagNS = max(s.MaxLagNS, p.MaxLagNS)
	s.Paused = s.Paused || p.Paused
	s.Ports = addMap(s.Ports, p.Ports)
	s.Errors = addMap(s.Errors, p.Errors)
	s.Drops = addMap(s.Drops, p.Drops)
	s.SourceIPs = addMap(s.SourceIPs, p.SourceIPs)
	s.Acks = addMap(s.Acks, p.Acks)
	if p.MQTT != nil {
		if s.MQTT == nil {
			s.MQTT = &MQTT{}
		}
		s.MQTT.Add(p.MQTT)
	}
	for k, v := range p.Fixes {
		if s.Fixes == nil {
			s.Fixes = map[string]string{}
		}
		s.Fixes[k] = v
	}
	for k, v := range p.ErrorExample {
		if s.ErrorExample == nil {
			s.ErrorExample = map[string]string{}
		}
		if _, ok := s.ErrorExample[k]; !ok {
			s.ErrorExample[k] = v
		}
	}
	for k, h := range p.Latency {
		if s.Latency == nil {
			s.Latency = map[string]Hist{}
		}
		m := s.Latency[k]
		m.Merge(h)
		s.Latency[k] = m
	}
	if s.Dispatcher == "" || p.Dispatcher == "down" {
		s.Dispatcher = p.Dispatcher // one shard's link down makes the sum down
	}
}

func addMap(dst, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]int64, len(src))
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

var phaseOrder = map[string]int{PhasePlan: 0, PhaseRamp: 1, PhaseHold: 2, PhaseClose: 3, PhaseDone: 4}

func mergedPhase(parts []Snapshot) string {
	phase, started := "", false
	for _, p := range parts {
		if p.Phase == "" || p.Down {
			continue
		}
		started = started || phaseOrder[p.Phase] > phaseOrder[PhasePlan]
		if phase == "" || phaseOrder[p.Phase] < phaseOrder[phase] {
			phase = p.Phase
		}
	}
	if phase == PhasePlan && started {
		return PhaseRamp // parts still planning while others dial: the run is ramping
	}
	return phase
}

// Clone returns a deep copy, so a snapshot handed to a sink can be kept
// while the producer goes on.
func (s Snapshot) Clone() Snapshot {
	c := s
	c.Ports = maps.Clone(s.Ports)
	c.Errors = maps.Clone(s.Errors)
	c.Drops = maps.Clone(s.Drops)
	c.SourceIPs = maps.Clone(s.SourceIPs)
	c.Acks = maps.Clone(s.Acks)
	c.ErrorExample = maps.Clone(s.ErrorExample)
	c.Fixes = maps.Clone(s.Fixes)
	if s.MQTT != nil {
		m := *s.MQTT
		c.MQTT = &m
	}
	if s.Latency != nil {
		c.Latency = make(map[string]Hist, len(s.Latency))
		for k, h := range s.Latency {
			h.Buckets = append([]Bucket(nil), h.Buckets...)
			c.Latency[k] = h
		}
	}
	if s.Shards != nil {
		c.Shards = make([]Snapshot, len(s.Shards))
		for i, sh := range s.Shards {
			c.Shards[i] = sh.Clone()
		}
	}
	return c
}

// SortedKeys returns m's keys in order, for stable rendering.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RampSeconds is the ramp's exact length, from the first dial to the last
// connection established before it was done; 0 when it has none yet.
func (s *Snapshot) RampSeconds() float64 {
	if s.RampStartNS == 0 || s.RampEndNS <= s.RampStartNS {
		return 0
	}
	return float64(s.RampEndNS-s.RampStartNS) / 1e9
}
