package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source returns the current snapshot.
type Source func() Snapshot

// Handler serves GET /stats (the snapshot as JSON) and GET /metrics
// (Prometheus text) from src.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{src})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(src())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// Serve listens on addr and serves Handler(src) until the returned close
// function is called. An empty addr serves nothing.
func Serve(addr string, src Source) (actual string, closeFn func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("cannot serve stats on %s: %w (choose another address with --stats, or --stats '' to turn it off)", addr, err)
	}
	srv := &http.Server{Handler: Handler(src), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us; nothing to report to
		}
	}()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// collector exposes a snapshot's numbers as Prometheus metrics.
type collector struct{ src Source }

var (
	descGauge = func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("imtool_"+name, help, labels, nil)
	}
	mConnections = descGauge("connections", "Open TCP connections.", "kind")
	mSessions    = descGauge("sessions", "Logged-in sessions.", "kind")
	mPort        = descGauge("port_connections", "Open connections per port.", "kind", "port")
	mEstablished = descGauge("established", "Connections established by the swarm.", "kind")
	mHeld        = descGauge("held", "Connections the swarm holds now.", "kind")
	mDropped     = descGauge("dropped_total", "Connections dropped after being established.", "kind")
	mErrors      = descGauge("errors_total", "Errors by class or code.", "kind", "class")
	mFrames      = descGauge("frames_total", "Frames by direction.", "kind", "dir")
	mBytes       = descGauge("bytes_total", "Bytes by direction.", "kind", "dir")
	mRSS         = descGauge("rss_bytes", "Resident set size of the process(es).", "kind")
	mFDs         = descGauge("fds", "Open file descriptors.", "kind")
	mUptime      = descGauge("uptime_seconds", "Seconds since start.", "kind")
	mLatency     = descGauge("latency_seconds", "Latency quantiles since start.", "kind", "name", "quantile")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mConnections, mSessions, mPort, mEstablished, mHeld, mDropped, mErrors, mFrames, mBytes, mRSS, mFDs, mUptime, mLatency} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	k := s.Kind
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{k}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{k}, labels...)...)
	}
	gauge(mConnections, float64(s.Connections))
	gauge(mSessions, float64(s.Sessions))
	for _, p := range SortedKeys(s.Ports) {
		gauge(mPort, float64(s.Ports[p]), p)
	}
	gauge(mEstablished, float64(s.Established))
	gauge(mHeld, float64(s.Held))
	counter(mDropped, float64(s.Dropped))
	for _, e := range SortedKeys(s.Errors) {
		counter(mErrors, float64(s.Errors[e]), e)
	}
	counter(mFrames, float64(s.FramesIn), "in")
	counter(mFrames, float64(s.FramesOut), "out")
	counter(mBytes, float64(s.BytesIn), "in")
	counter(mBytes, float64(s.BytesOut), "out")
	gauge(mRSS, float64(s.RSSBytes))
	gauge(mFDs, float64(s.FDs))
	gauge(mUptime, s.UptimeS)
	for _, name := range SortedKeys(s.Latency) {
		h := s.Latency[name]
		for _, q := range []float64{0.5, 0.99, 0.999} {
			gauge(mLatency, h.Quantile(q).Seconds(), name, fmt.Sprint(q))
		}
	}
}
