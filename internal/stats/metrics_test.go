package stats_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/refserver"
	"github.com/imtool/imtool/refserver/refservertest"
)

// scrape serves src's /metrics and returns the text.
func scrape(t *testing.T, src stats.Source) string {
	t.Helper()
	srv := httptest.NewServer(stats.Handler(src))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s %v", resp.Status, err)
	}
	return string(b)
}

// promtoolCheck runs `promtool check metrics` (Debian package prometheus)
// on text and fails the test on any problem it reports, lint included.
func promtoolCheck(t *testing.T, kind, text string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found: install it (Debian: apt-get install prometheus) — .ci/run does: %v", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("%s: promtool check metrics: %v\n%s", kind, err, out)
	}
}

// series returns the value of the one sample line that starts with
// name+labels (e.g. `imtool_held ` or `imtool_latency_seconds_count{op="ack"} `).
func series(t *testing.T, text, prefix string) float64 {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			return v
		}
	}
	t.Fatalf("no series %q in:\n%s", prefix, text)
	return 0
}

// families lists the imtool_* metric families in text.
func families(text string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if f, ok := strings.CutPrefix(l, "# TYPE imtool_"); ok {
			out["imtool_"+strings.Fields(f)[0]] = true
		}
	}
	return out
}

// TestMetricsOfEachProcessKind scrapes the /metrics of a real dispatcher, a
// gateway linked to it and a swarm that has run a hold with heartbeats and
// messages against it, plus a merged two-shard gateway, and checks each
// with promtool; then checks the numbers against the snapshot they come
// from and the families against the kind.
func TestMetricsOfEachProcessKind(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the reference gateway needs Linux or BSD")
	}
	d, err := refserver.NewDispatcher(refserver.DispatcherOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.Serve() }()
	t.Cleanup(d.Close)
	gw := refservertest.NewGateway(t, refserver.Options{Dispatcher: d.Addr(), GatewayID: "gw-a"}, 2)

	const conns = 100
	sw, err := loadclient.New(loadclient.Options{Targets: gw.Addrs, Conns: conns, Rate: 5000,
		Heartbeat: 100 * time.Millisecond, MsgRate: 200, Hold: time.Second, Procs: 1, UIDBase: 5000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sw.Run(ctx); err != nil {
		t.Fatalf("swarm: %v", err)
	}

	// The swarm is done, so its snapshot no longer moves: the scrape and the
	// snapshot must agree exactly.
	snap := sw.Snapshot()
	text := scrape(t, sw.Snapshot)
	promtoolCheck(t, "swarm", text)
	for name, h := range snap.Latency {
		if h.Count == 0 {
			continue
		}
		got := series(t, text, `imtool_latency_seconds_count{op="`+name+`"} `)
		inf := series(t, text, `imtool_latency_seconds_bucket{op="`+name+`",le="+Inf"} `)
		if got != float64(h.Count) || inf != float64(h.Count) {
			t.Errorf("%s: histogram count %v, +Inf bucket %v; the snapshot has %d samples", name, got, inf, h.Count)
		}
		if sum := series(t, text, `imtool_latency_seconds_sum{op="`+name+`"} `); sum != float64(h.Sum)/1e9 {
			t.Errorf("%s: sum %v s, snapshot %d ns", name, sum, h.Sum)
		}
		// The bucket at a bound never counts a sample above it.
		le1ms := series(t, text, `imtool_latency_seconds_bucket{op="`+name+`",le="0.001"} `)
		if q := h.Quantile((le1ms - 0.5) / float64(h.Count)); le1ms > 0 && q > time.Millisecond {
			t.Errorf("%s: %v samples counted ≤ 1 ms, but the quantile at that rank is %v", name, le1ms, q)
		}
	}
	if snap.Latency[stats.LatHeartbeat].Count == 0 || snap.Sent == 0 {
		t.Fatalf("the swarm measured nothing: %+v", snap)
	}
	for prefix, want := range map[string]int64{
		"imtool_messages_sent_total ":         snap.Sent,
		"imtool_messages_acked_total ":        snap.Acked,
		"imtool_messages_delivered_total ":    snap.Delivered,
		"imtool_pings_total ":                 snap.Pings,
		"imtool_pongs_total ":                 snap.Pongs,
		"imtool_established_total ":           snap.Established,
		"imtool_attempts_total ":              snap.Attempts,
		"imtool_held ":                        snap.Held,
		"imtool_target_connections ":          snap.Target,
		`imtool_bytes_total{direction="in"} `: snap.BytesIn,
	} {
		if got := series(t, text, prefix); got != float64(want) {
			t.Errorf("%s= %v, /stats says %d", prefix, got, want)
		}
	}
	if series(t, text, `imtool_phase{phase="done"} `) != 1 {
		t.Error("phase done is not 1")
	}
	if f := families(text); f["imtool_sessions"] || f["imtool_gateways"] || f["imtool_rss_bytes"] {
		t.Errorf("swarm exports families it has not: %v", f)
	}

	gwText := scrape(t, gw.Snapshot)
	promtoolCheck(t, "gateway", gwText)
	gs := gw.Snapshot()
	if got := series(t, gwText, `imtool_frames_total{direction="in"} `); got != float64(gs.FramesIn) {
		t.Errorf("gateway frames in %v, snapshot %d", got, gs.FramesIn)
	}
	if series(t, gwText, "imtool_dispatcher_link_up ") != 1 {
		t.Error("gateway's dispatcher link is not up")
	}
	if f := families(gwText); f["imtool_held"] || f["imtool_latency_seconds"] || f["imtool_processes"] || !f["imtool_sessions"] {
		t.Errorf("gateway families: %v", f)
	}
	// The standard collectors replace home-made process figures.
	for _, want := range []string{"process_resident_memory_bytes ", "process_open_fds ", "go_goroutines "} {
		if !strings.Contains(gwText, "\n"+want) {
			t.Errorf("gateway /metrics lacks %s", want)
		}
	}
	if strings.Contains(gwText, `kind="gateway",`) || strings.Contains(gwText, `{kind="gateway"}`) {
		t.Error("a kind label on series other than imtool_info")
	}

	dText := scrape(t, d.Snapshot)
	promtoolCheck(t, "dispatcher", dText)
	if got := series(t, dText, "imtool_gateways "); got != 1 {
		t.Errorf("dispatcher gateways %v, want 1", got)
	}
	if got := series(t, dText, `imtool_gateway_sessions{gateway="gw-a"} `); got != float64(gs.Sessions) {
		t.Errorf("dispatcher has %v sessions for gw-a, the gateway says %d", got, gs.Sessions)
	}

	// A cluster's parent sums its shards: their resources are the
	// imtool_processes_* families, not this process's process_*.
	merged := stats.Merge(stats.KindGateway, "cluster", []stats.Snapshot{gs, gs})
	mText := scrape(t, func() stats.Snapshot { return merged })
	promtoolCheck(t, "gateway cluster", mText)
	if got := series(t, mText, "imtool_processes "); got != 2 {
		t.Errorf("processes %v, want 2", got)
	}
	if got := series(t, mText, "imtool_processes_resident_memory_bytes "); got != float64(2*gs.RSSBytes) {
		t.Errorf("summed RSS %v, want %d", got, 2*gs.RSSBytes)
	}
	if got := series(t, mText, "imtool_sessions "); got != float64(2*gs.Sessions) {
		t.Errorf("summed sessions %v, want %d", got, 2*gs.Sessions)
	}
}

// TestMQTTMetrics: a swarm's MQTT counts are exported per QoS, lost as
// worked out from the summed parts, and pass promtool.
func TestMQTTMetrics(t *testing.T) {
	a := stats.Snapshot{Kind: stats.KindSwarm, MQTT: &stats.MQTT{Sent: [3]int64{0, 10, 0}, Acked: [3]int64{0, 9, 0}, Expected: [3]int64{0, 10, 0}, Received: [3]int64{0, 4, 0}}}
	b := stats.Snapshot{Kind: stats.KindSwarm, MQTT: &stats.MQTT{Received: [3]int64{0, 7, 0}, Duplicated: [3]int64{0, 1, 0}}}
	m := stats.Merge(stats.KindSwarm, "", []stats.Snapshot{a, b})
	if got := m.MQTT.Lost; got != [3]int64{0, 0, 0} {
		t.Fatalf("lost %v: 10 expected, 11 received of which 1 duplicated in another part: want none lost", got)
	}
	text := scrape(t, func() stats.Snapshot { return m })
	promtoolCheck(t, "swarm with MQTT", text)
	for prefix, want := range map[string]float64{
		`imtool_mqtt_sent_total{qos="1"} `:       10,
		`imtool_mqtt_acked_total{qos="1"} `:      9,
		`imtool_mqtt_received_total{qos="1"} `:   11,
		`imtool_mqtt_duplicated_total{qos="1"} `: 1,
		`imtool_mqtt_lost{qos="1"} `:             0,
		`imtool_mqtt_sent_total{qos="0"} `:       0,
	} {
		if got := series(t, text, prefix); got != want {
			t.Errorf("%s= %v, want %v", prefix, got, want)
		}
	}
}
