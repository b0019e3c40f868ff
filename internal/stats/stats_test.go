package stats

import (
	"encoding/json"
	"io"
	"math/rand"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBucketsAreContiguousAndTight(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<20; v++ {
		b := bucketOf(v)
		if b != prev && b != prev+1 {
			t.Fatalf("bucketOf(%d) = %d after %d: gap", v, b, prev)
		}
		if hi := bucketHigh(b); hi < v || float64(hi-v) > 0.016*float64(v)+1 {
			t.Fatalf("value %d in bucket %d whose high is %d", v, b, hi)
		}
		prev = b
	}
	if b := bucketOf(1 << 62); b != numBuckets-1 {
		t.Fatalf("huge value in bucket %d, want the last", b)
	}
}

// Merging histograms gives exactly the histogram of all samples: the
// property that lets shards and hosts be combined without averaging
// percentiles.
func TestMergeEqualsAllSamples(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var a, b, all []time.Duration
	for i := 0; i < 20000; i++ {
		d := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		if i%3 == 0 {
			d *= 40 // a slow host
			b = append(b, d)
		} else {
			a = append(a, d)
		}
		all = append(all, d)
	}
	merged := HistOf(a...)
	merged.Merge(HistOf(b...))
	whole := HistOf(all...)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		if m, w := merged.Quantile(q), whole.Quantile(q); m != w {
			t.Errorf("q%.3f merged %v, all samples %v", q, m, w)
		}
		// And the bucketed value is within 1.6% of the exact order statistic.
		sorted := slices.Clone(all)
		slices.Sort(sorted)
		exact := sorted[max(int(q*float64(len(sorted)))-1, 0)]
		if got := whole.Quantile(q); got < exact || float64(got-exact) > 0.016*float64(exact)+1 {
			t.Errorf("q%.3f = %v, exact %v", q, got, exact)
		}
	}
	if merged.Count != int64(len(all)) || merged.Max != whole.Max || merged.Sum != whole.Sum {
		t.Errorf("merged count/max/sum %d/%d/%d, want %d/%d/%d", merged.Count, merged.Max, merged.Sum, whole.Count, whole.Max, whole.Sum)
	}
}

func TestSinceIsTheInterval(t *testing.T) {
	var r Recorder
	r.Record(time.Millisecond)
	first := r.Snapshot()
	r.Record(time.Second)
	r.Record(time.Second)
	iv := r.Snapshot().Since(first)
	if iv.Count != 2 || iv.Quantile(0.5) < time.Second {
		t.Fatalf("interval %+v", iv)
	}
}

func TestHistJSONRoundTrip(t *testing.T) {
	h := HistOf(time.Microsecond, time.Millisecond, time.Second)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back Hist
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Quantile(0.99) != h.Quantile(0.99) || back.Count != 3 {
		t.Fatalf("round trip %s → %+v", b, back)
	}
	if err := json.Unmarshal([]byte(`{"buckets":[[99999,1]]}`), &back); err == nil {
		t.Fatal("out-of-range bucket accepted")
	}
	// Records written before buckets were packed still read.
	if err := json.Unmarshal([]byte(`{"count":2,"sum_ns":1001000,"max_ns":1000000,"buckets":[[100,1],[1500,1]]}`), &back); err != nil ||
		back.Count != 2 || len(back.Buckets) != 2 || back.Buckets[1] != (Bucket{1500, 1}) {
		t.Fatalf("old form: %+v, %v", back, err)
	}
	for _, bad := range []string{`{"buckets":"!!"}`, `{"buckets":"/w=="}`, `{"buckets":"` + "gIAE" + `"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestMergeSnapshots(t *testing.T) {
	a := Snapshot{Kind: KindSwarm, Phase: PhaseHold, Established: 10, Held: 9, Errors: map[string]int64{ErrConnRefused: 1},
		Ports: map[string]int64{"9000": 5}, Latency: map[string]Hist{LatConnect: HistOf(time.Millisecond)}}
	b := Snapshot{Kind: KindSwarm, Phase: PhaseRamp, Established: 5, Held: 5, Errors: map[string]int64{ErrConnRefused: 2},
		Ports: map[string]int64{"9000": 1, "9001": 4}, Latency: map[string]Hist{LatConnect: HistOf(time.Second)}}
	m := Merge(KindSwarm, "all", []Snapshot{a, b})
	if m.Established != 15 || m.Held != 14 || m.Errors[ErrConnRefused] != 3 || m.Ports["9000"] != 6 || m.Ports["9001"] != 4 {
		t.Fatalf("merged %+v", m)
	}
	if m.Phase != PhaseRamp || m.Processes != 2 || len(m.Shards) != 2 || m.Latency[LatConnect].Count != 2 {
		t.Fatalf("phase %q processes %d shards %d", m.Phase, m.Processes, len(m.Shards))
	}
	// Shards that have not begun yet do not make a dialing run "plan".
	late := Merge(KindSwarm, "all", []Snapshot{{Phase: PhasePlan}, {Phase: PhaseHold, Established: 2232}})
	if late.Phase != PhaseRamp {
		t.Fatalf("plan+hold merged to %q, want ramp", late.Phase)
	}
	if all := Merge(KindSwarm, "all", []Snapshot{{Phase: PhasePlan}, {Phase: PhasePlan}}); all.Phase != PhasePlan {
		t.Fatalf("plan+plan merged to %q", all.Phase)
	}
	c := m.Clone()
	c.Ports["9000"] = 0
	if m.Ports["9000"] != 6 {
		t.Fatal("Clone shares maps")
	}
}

func TestHandler(t *testing.T) {
	addr, stop, err := Serve("127.0.0.1:0", func() Snapshot {
		return Snapshot{Kind: KindGateway, ID: "g1", Connections: 3, Sessions: 2, Ports: map[string]int64{"9000": 3},
			Latency: map[string]Hist{LatHeartbeat: HistOf(time.Millisecond)}}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		return string(b)
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(get("/stats")), &s); err != nil || s.ID != "g1" || s.Sessions != 2 {
		t.Fatalf("/stats: %+v %v", s, err)
	}
	m := get("/metrics")
	for _, want := range []string{`imtool_info{id="g1",kind="gateway"} 1`, "\nimtool_connections 3\n", `imtool_port_connections{port="9000"} 3`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, m)
		}
	}
	if _, _, err := Serve(addr, nil); err == nil || !strings.Contains(err.Error(), "--stats") {
		t.Fatalf("second listener on %s: %v", addr, err)
	}
}

func TestReadProcess(t *testing.T) {
	p := ReadProcess()
	if p.Goroutines < 1 || p.PID == 0 {
		t.Fatalf("%+v", p)
	}
}

func BenchmarkRecord(b *testing.B) {
	var r Recorder
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Record(time.Duration(i))
	}
}

func TestReadHost(t *testing.T) {
	h := ReadHost()
	if h.MemAvailable <= 0 {
		t.Fatalf("MemAvailable %d", h.MemAvailable)
	}
}
