package stats

import (
	"maps"
	"math"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// latencyBounds are the upper bounds (seconds) of the Prometheus latency
// histogram's buckets: 100 µs to a minute, for rate() and
// histogram_quantile() summed over any number of processes.
var latencyBounds = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// newRegistry is what /metrics serves: this process's standard process_*
// and go_* collectors, and src's figures as imtool_* families.
func newRegistry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		collector{src},
	)
	return reg
}

// collector exposes a snapshot as Prometheus metrics: only the families
// the snapshot's kind has (a gateway has no held connections, a swarm no
// sessions), cumulative counts as counters, latencies as histograms.
// Which process it is goes in one imtool_info series, not a label on
// every series. It is an unchecked collector (Describe sends nothing)
// because the families depend on the kind.
type collector struct{ src Source }

func (collector) Describe(chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	e := emitter{ch}
	e.gauge("info", "Which imtool process this is (value 1).", 1, []string{"kind", "id"}, s.Kind, s.ID)
	switch s.Kind {
	case KindGateway:
		e.gatewayFamilies(s)
	case KindDispatcher:
		e.dispatcherFamilies(s)
	case KindSwarm:
		e.swarmFamilies(s)
	}
	e.processFamilies(s)
}

// emitter writes const metrics; a desc is built per call, which costs
// nothing that matters once a scrape.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) metric(t prometheus.ValueType, name, help string, v float64, labels []string, values ...string) {
	d := prometheus.NewDesc("imtool_"+name, help, labels, nil)
	e.ch <- prometheus.MustNewConstMetric(d, t, v, values...)
}

func (e emitter) gauge(name, help string, v float64, labels []string, values ...string) {
	e.metric(prometheus.GaugeValue, name, help, v, labels, values...)
}

func (e emitter) counter(name, help string, v int64) {
	e.metric(prometheus.CounterValue, name, help, float64(v), nil)
}

// byLabel writes one series per map entry, in key order.
func (e emitter) byLabel(t prometheus.ValueType, name, help, label string, m map[string]int64) {
	for _, k := range SortedKeys(m) {
		e.metric(t, name, help, float64(m[k]), []string{label}, k)
	}
}

func (e emitter) directions(name, help string, in, out int64) {
	e.metric(prometheus.CounterValue, name, help, float64(in), []string{"direction"}, "in")
	e.metric(prometheus.CounterValue, name, help, float64(out), []string{"direction"}, "out")
}

func (e emitter) gatewayFamilies(s Snapshot) {
	e.gauge("connections", "Open client TCP connections.", float64(s.Connections), nil)
	e.gauge("sessions", "Logged-in sessions.", float64(s.Sessions), nil)
	e.byLabel(prometheus.GaugeValue, "port_connections", "Open client connections per listening port.", "port", s.Ports)
	e.directions("frames_total", "Protocol frames received (in) and sent (out).", s.FramesIn, s.FramesOut)
	e.directions("bytes_total", "Bytes received (in) and sent (out) on client connections.", s.BytesIn, s.BytesOut)
	e.byLabel(prometheus.CounterValue, "errors_total", "ERROR frames sent to clients, by code name.", "code", s.Errors)
	e.counter("kicks_total", "Sessions ended because the same uid logged in elsewhere.", s.Kicks)
	e.counter("slow_clients_total", "Connections closed because the client did not read its pushes.", s.SlowClients)
	e.counter("rejected_total", "Connections refused with ERROR 10 (server full).", s.Rejected)
	if s.Dispatcher != "" && s.Dispatcher != "none" {
		up := 0.0
		if s.Dispatcher == "up" {
			up = 1
		}
		e.gauge("dispatcher_link_up", "1 when the link to the dispatcher is up (every shard's, when merged).", up, nil)
	}
}

func (e emitter) dispatcherFamilies(s Snapshot) {
	e.gauge("gateways", "Registered gateways.", float64(s.Gateways), nil)
	e.gauge("routed_uids", "Users whose gateway the dispatcher knows.", float64(s.Sessions), nil)
	for _, g := range s.Shards {
		e.gauge("gateway_sessions", "Users each registered gateway holds.", float64(g.Sessions), []string{"gateway"}, g.ID)
	}
	e.directions("frames_total", "Link frames received (in) and sent (out).", s.FramesIn, s.FramesOut)
	e.byLabel(prometheus.CounterValue, "errors_total", "Routing failures, by class.", "class", s.Errors)
}

func (e emitter) swarmFamilies(s Snapshot) {
	for _, p := range []string{PhasePlan, PhaseRamp, PhaseHold, PhaseClose, PhaseDone} {
		v := 0.0
		if s.Phase == p {
			v = 1
		}
		e.gauge("phase", "1 for the phase the swarm is in.", v, []string{"phase"}, p)
	}
	paused := 0.0
	if s.Paused {
		paused = 1
	}
	e.gauge("paused", "1 while the ramp is paused.", paused, nil)
	e.gauge("target_connections", "Connections the swarm aims to hold.", float64(s.Target), nil)
	e.counter("attempts_total", "Connection attempts (dials).", s.Attempts)
	e.counter("established_total", "Connections established (logged in, for protocols with a login).", s.Established)
	e.gauge("held", "Connections the swarm holds now.", float64(s.Held), nil)
	drops := map[string]int64{"server_close": 0, "kick": 0, "reset": 0, "idle": 0, "error": 0}
	maps.Copy(drops, s.Drops)
	var known int64
	for _, v := range drops {
		known += v
	}
	if other := s.Dropped - known; other > 0 {
		drops["other"] += other
	}
	e.byLabel(prometheus.CounterValue, "dropped_total", "Connections lost after being established, by cause.", "cause", drops)
	e.byLabel(prometheus.CounterValue, "errors_total", "Failed attempts and connection errors, by class.", "class", s.Errors)
	e.byLabel(prometheus.GaugeValue, "port_connections", "Connections held per target port.", "port", s.Ports)
	e.byLabel(prometheus.GaugeValue, "source_ip_connections", "Connections held per source IP.", "ip", s.SourceIPs)
	e.counter("messages_sent_total", "SEND frames sent.", s.Sent)
	e.counter("messages_acked_total", "SEND frames answered with ACK.", s.Acked)
	e.byLabel(prometheus.CounterValue, "acks_total", "ACKs (and SENDs given up as lost), by status.", "status", s.Acks)
	e.counter("messages_delivered_total", "DELIVER frames received.", s.Delivered)
	if m := s.MQTT; m != nil {
		for _, f := range []struct {
			name, help string
			v          [3]int64
		}{
			{"mqtt_sent_total", "MQTT PUBLISHes sent, by QoS.", m.Sent},
			{"mqtt_acked_total", "MQTT PUBLISHes acknowledged (PUBACK, PUBCOMP), by QoS.", m.Acked},
			{"mqtt_received_total", "MQTT swarm messages delivered to subscribers, duplicates included, by the publisher's QoS.", m.Received},
			{"mqtt_duplicated_total", "MQTT deliveries of a message already delivered, by QoS.", m.Duplicated},
			{"mqtt_unacked_total", "MQTT QoS 1/2 PUBLISHes in flight when their connection ended, by QoS.", m.Unacked},
			{"mqtt_blocked_total", "MQTT PUBLISHes not sent: the in-flight window (Receive Maximum) was full, by QoS.", m.Blocked},
		} {
			e.byLabel(prometheus.CounterValue, f.name, f.help, "qos", map[string]int64{"0": f.v[0], "1": f.v[1], "2": f.v[2]})
		}
		// A gauge: deliveries still on their way count until they arrive.
		// Left out when the swarm cannot know what the subscriptions call for.
		if !m.ExpectedUnknown {
			e.byLabel(prometheus.GaugeValue, "mqtt_lost", "MQTT deliveries the subscriptions call for that have not arrived (yet), by QoS.", "qos",
				map[string]int64{"0": m.Lost[0], "1": m.Lost[1], "2": m.Lost[2]})
		}
	}
	e.directions("frames_total", "Protocol frames received (in) and sent (out).", s.FramesIn, s.FramesOut)
	e.directions("bytes_total", "Bytes received (in) and sent (out).", s.BytesIn, s.BytesOut)
	e.counter("churned_total", "Held connections closed and redialed by --churn.", s.Churned)
	e.counter("pings_total", "PING frames sent.", s.Pings)
	e.counter("pongs_total", "PONG frames received.", s.Pongs)
	e.counter("server_pings_total", "Server pings a scenario answered.", s.ServerPings)
	e.gauge("max_lag_seconds", "The furthest the sender has fallen behind its schedule.", float64(s.MaxLagNS)/1e9, nil)
	for _, name := range SortedKeys(s.Latency) {
		h := s.Latency[name]
		d := prometheus.NewDesc("imtool_latency_seconds",
			"Latency by operation: connect, login, heartbeat (PING to PONG), ack (SEND to ACK), deliver (SEND to DELIVER), lag (behind schedule).",
			[]string{"op"}, nil)
		e.ch <- prometheus.MustNewConstHistogram(d, uint64(h.Count), float64(h.Sum)/1e9, h.cumulative(latencyBounds), name)
	}
}

// processFamilies covers the processes a merged snapshot sums (shards,
// agents): process_* describe only the process that serves /metrics.
func (e emitter) processFamilies(s Snapshot) {
	if s.Processes <= 1 && (s.PID == 0 || s.PID == os.Getpid()) {
		if s.PrivateBytes > 0 {
			e.gauge("private_memory_bytes", "Resident memory this process has to itself (RSS less shared file pages).", float64(s.PrivateBytes), nil)
		}
		return
	}
	e.gauge("processes", "Processes this endpoint sums (shards or agents).", float64(max(s.Processes, 1)), nil)
	e.gauge("processes_resident_memory_bytes", "Resident memory summed over the processes counted in imtool_processes.", float64(s.RSSBytes), nil)
	e.gauge("processes_private_memory_bytes", "Private resident memory summed over the processes counted in imtool_processes.", float64(s.PrivateBytes), nil)
	e.gauge("processes_open_fds", "Open file descriptors summed over the processes counted in imtool_processes.", float64(s.FDs), nil)
	e.metric(prometheus.CounterValue, "processes_cpu_seconds_total", "CPU time summed over the processes counted in imtool_processes.", s.CPUSeconds, nil)
}

// cumulative counts the samples at or below each bound (seconds), for a
// Prometheus histogram. A bucket counts under a bound only when its
// highest value is within it, so a bucket never holds a sample above its
// bound (a sample up to 1.6% below a bound may count in the next one).
func (h Hist) cumulative(bounds []float64) map[float64]uint64 {
	out := make(map[float64]uint64, len(bounds))
	var seen int64
	j := 0
	for _, ub := range bounds {
		limit := int64(math.Round(ub * 1e9))
		for j < len(h.Buckets) && min(bucketHigh(int(h.Buckets[j].I)), h.Max) <= limit {
			seen += h.Buckets[j].N
			j++
		}
		out[ub] = uint64(seen)
	}
	return out
}
