package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		if i >= len(g) || i >= len(w) || g[i] != w[i] {
			t.Errorf("%s differs from the golden file at line %d (go test ./reports -update rewrites it)\n got: %q\nwant: %q",
				name, i+1, strings.Join(g[i:min(i+1, len(g))], ""), strings.Join(w[i:min(i+1, len(w))], ""))
			return
		}
	}
}

func load(t *testing.T, dir string) *stats.Record {
	t.Helper()
	rec, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestGoldenTextAndMarkdown(t *testing.T) {
	for name, dir := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			rec := load(t, dir)
			var txt bytes.Buffer
			if err := Text(&txt, rec); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".txt", txt.Bytes())

			assets := filepath.Join(t.TempDir(), name+"-charts")
			var md bytes.Buffer
			if err := Markdown(&md, rec, assets); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".md", md.Bytes())
			for _, link := range regexp.MustCompile(`\]\(([^)]+\.png)\)`).FindAllStringSubmatch(md.String(), -1) {
				fi, err := os.Stat(filepath.Join(filepath.Dir(assets), link[1]))
				if err != nil || fi.Size() < 1000 {
					t.Errorf("chart %s linked from the Markdown is missing or empty: %v", link[1], err)
				}
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	rec := load(t, fixtures(t)["complete"])
	s := rec.Summary
	// The fixture ramps at 4,000–4,400 conn/s from t=0 and runs out of
	// local ports at 19,200 in the fifth second; five resets a second from
	// t=9 on.
	want := stats.Summary{Requested: 20000, Established: 19200, Held: 19140, Dropped: 60, RampSeconds: 5, HoldSeconds: 15}
	if s.Requested != want.Requested || s.Established != want.Established || s.Held != want.Held ||
		s.Dropped != want.Dropped || s.RampSeconds != want.RampSeconds || s.HoldSeconds != want.HoldSeconds {
		t.Errorf("summary %+v, want %+v", s, want)
	}
	if s.ConnectRateMean != 19200.0/5 || s.ConnectRatePeak != 4400 {
		t.Errorf("connect rate mean %v peak %v, want 3840 and 4400", s.ConnectRateMean, s.ConnectRatePeak)
	}
	if s.ClientBytesPer < 1400 || s.ClientBytesPer > 1410 {
		t.Errorf("client bytes per connection %v, want ≈1,400 (what the fixture adds)", s.ClientBytesPer)
	}
	if s.HostBytesPer < 9000 || s.HostBytesPer > 9100 {
		t.Errorf("host bytes per connection %v, want ≈9,000", s.HostBytesPer)
	}
	if !strings.Contains(s.Shortfall, "eaddrnotavail") || !strings.Contains(s.Shortfall, stats.Fix(stats.ErrAddrNotAvail)) {
		t.Errorf("shortfall %q does not name the top error and its fix", s.Shortfall)
	}
	if l := s.Latency[stats.LatConnect]; l.Count == 0 || l.P50 < 0.0003 || l.P99 > 0.0012 {
		t.Errorf("connect latency %+v, want within the fixture's 0.3–1.2 ms", l)
	}
}

func TestLoadRefusesFutureSchema(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, RecordFile), []byte(`{"schema_version": 3, "complete": true}`), 0o644)
	_, err := Load(dir)
	want := "run.json has schema version 3; this imtool reads 1–1: upgrade imtool"
	if err == nil || err.Error() != want {
		t.Fatalf("Load: %v, want %q", err, want)
	}
	os.WriteFile(filepath.Join(dir, RecordFile), []byte(`{"schema_version": 0}`), 0o644)
	if _, err := Load(filepath.Join(dir, RecordFile)); err == nil || !strings.Contains(err.Error(), "not an imtool run record") {
		t.Fatalf("Load of version 0: %v", err)
	}
}

func TestInterruptedRunRendersIncomplete(t *testing.T) {
	rec := load(t, fixtures(t)["interrupted"])
	if rec.Complete || rec.Incomplete != "interrupted: no final record" || len(rec.Series) != 4 {
		t.Fatalf("complete %v, incomplete %q, %d samples; want an incomplete record of 4 samples (torn 5th line skipped)",
			rec.Complete, rec.Incomplete, len(rec.Series))
	}
	if rec.Summary.Established != rec.Series[3].Swarm.Established {
		t.Errorf("summary not computed from the series: %+v", rec.Summary)
	}
	var txt, page bytes.Buffer
	if err := Text(&txt, rec); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, rec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "INCOMPLETE") || !strings.Contains(page.String(), "INCOMPLETE RUN") {
		t.Errorf("an interrupted run is not marked INCOMPLETE:\n%s", txt.String())
	}
}

func TestDamagedSeriesLine(t *testing.T) {
	dir := t.TempDir()
	interruptedRun(t, dir)
	data, _ := os.ReadFile(filepath.Join(dir, SeriesFile))
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = "{oops\n"
	os.WriteFile(filepath.Join(dir, SeriesFile), []byte(strings.Join(lines, "")), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "line 2 is damaged") {
		t.Fatalf("Load with a damaged middle line: %v", err)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, fixtureRecord(20000))
	if err != nil {
		t.Fatal(err)
	}
	early, err := Load(dir)
	if err != nil {
		t.Fatalf("run.json must be readable right after NewWriter: %v", err)
	}
	if early.Environment.Hostname != "loadhost-01" || early.Complete {
		t.Errorf("early record %+v", early)
	}
	samples := fixtureSamples(12, 20000, time.Millisecond)
	for _, s := range samples {
		s.Swarm.Shards = []stats.Snapshot{s.Swarm} // dropped by the Writer
		w.Update(s)
	}
	rec, err := w.Finish(stats.Summary{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after Finish: %v", err)
	}
	got := load(t, dir)
	if !reflect.DeepEqual(normalize(t, got), normalize(t, rec)) {
		t.Errorf("loaded record differs from the one written")
	}
	if !got.Complete || len(got.Series) != len(samples) || got.Series[0].Swarm.Shards != nil {
		t.Errorf("complete %v, %d samples (want %d, without shards)", got.Complete, len(got.Series), len(samples))
	}
	if got.Summary.Established != 19200 {
		t.Errorf("Finish with a zero summary did not summarize: %+v", got.Summary)
	}
}

// normalize passes a record through JSON, as Load does, so options read
// back as float64 compare equal.
func normalize(t *testing.T, rec *stats.Record) *stats.Record {
	t.Helper()
	dir := t.TempDir()
	if err := writeRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	return load(t, dir)
}

func TestFinishIncompleteKeepsReason(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, fixtureRecord(20000))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range fixtureSamples(3, 20000, time.Millisecond) {
		w.Update(s)
	}
	if _, err := w.Finish(stats.Summary{}, "interrupted by SIGINT during ramp"); err != nil {
		t.Fatal(err)
	}
	rec := load(t, dir)
	if rec.Complete || rec.Incomplete != "interrupted by SIGINT during ramp" || len(rec.Series) != 3 {
		t.Errorf("complete %v, reason %q, %d samples", rec.Complete, rec.Incomplete, len(rec.Series))
	}
}

// A bench's three counts come from the hold sample before the last (the
// last may be read while a self-timed swarm starts closing); the kernel's
// is the growth of sockets in use since the baseline, halved.
func TestSummarizeCounts(t *testing.T) {
	smp := func(t float64, phase string, held, sessions, inuse int64) stats.Sample {
		return stats.Sample{T: t, Swarm: stats.Snapshot{Phase: phase, Held: held, Established: held},
			Server: &stats.Snapshot{Sessions: sessions}, Host: &stats.Host{TCPInUse: inuse}}
	}
	rec := &stats.Record{Command: "bench", Options: map[string]any{"conns": 1000}, Series: []stats.Sample{
		smp(0, stats.PhasePlan, 0, 0, 30), // 20 listeners, links, pollers
		smp(1, stats.PhaseRamp, 600, 600, 1230),
		smp(2, stats.PhaseHold, 1000, 1000, 2030),
		smp(3, stats.PhaseHold, 1000, 999, 2029),
		smp(4, stats.PhaseHold, 1000, 400, 900), // closing under way
		smp(5, stats.PhaseDone, 1000, 0, 30),
	}}
	c := Summarize(rec).Counts
	if c == nil || *c != (stats.Counts{T: 3, Swarm: 1000, Server: 999, Kernel: 999}) {
		t.Fatalf("counts %+v, want those of t=3: 1000, 999, 999", c)
	}
	if !c.Agree() || c.Spread() != 0.001 {
		t.Errorf("spread %v agree %v; want 0.1%%, agreeing", c.Spread(), c.Agree())
	}
	if c.Kernel = 990; c.Agree() {
		t.Error("1% apart agrees")
	}
	rec.Command = "swarm" // one end only on this host: no kernel count to compare
	if c := Summarize(rec).Counts; c != nil {
		t.Errorf("a swarm run has counts %+v", c)
	}
}

// Hold latency counts only what was recorded during the hold: the ramp's
// slow heartbeats stay in the run's figures and out of the hold's.
func TestSummarizeHoldLatency(t *testing.T) {
	var r stats.Recorder
	at := func(t float64, phase string) stats.Sample {
		return stats.Sample{T: t, Swarm: stats.Snapshot{Phase: phase, Latency: map[string]stats.Hist{stats.LatHeartbeat: r.Snapshot()}}}
	}
	var series []stats.Sample
	for range 100 {
		r.Record(2 * time.Second) // the ramp: slow
	}
	series = append(series, at(1, stats.PhaseRamp), at(2, stats.PhaseHold))
	for range 1000 {
		r.Record(10 * time.Millisecond)
	}
	series = append(series, at(3, stats.PhaseHold), at(4, stats.PhaseDone))
	s := Summarize(&stats.Record{Command: "bench", Series: series})
	run, hold := s.Latency[stats.LatHeartbeat], s.HoldLatency[stats.LatHeartbeat]
	if run.Count != 1100 || run.Max < 1.9 {
		t.Errorf("run heartbeat latency %+v, want 1,100 with the ramp's 2 s", run)
	}
	if hold.Count != 1000 || hold.P99 > 0.0102 || hold.Max > 0.0102 {
		t.Errorf("hold heartbeat latency %+v, want 1,000 at 10 ms", hold)
	}
}

// The hold ends with its last sample: a slow close after it (tens of
// seconds on a loaded host) is not counted as holding.
func TestHoldExcludesTheClose(t *testing.T) {
	rec := load(t, fixtures(t)["complete"])
	want := Summarize(rec).HoldSeconds
	last := rec.Series[len(rec.Series)-1]
	if last.Swarm.Phase != stats.PhaseHold {
		t.Fatalf("the fixture ends in phase %q, want it to end in the hold", last.Swarm.Phase)
	}
	closing := last
	closing.T += 30
	closing.Swarm.Phase = stats.PhaseDone
	rec.Series = append(rec.Series, closing)
	if got := Summarize(rec).HoldSeconds; got != want {
		t.Errorf("hold %v s with a 30 s close after it, want %v s", got, want)
	}
}

// A Writer without a directory owns the record all the same and writes
// nothing: Finish summarizes and checks the thresholds. The samples keep
// the gateway's shards until Finish (a fault's recovery waits for each
// shard to be up and linked) but the finished series, as in run.json, has
// no per-shard parts.
func TestWriterWithoutDirectory(t *testing.T) {
	cwd, _ := os.Getwd()
	w, err := NewWriter("", fixtureRecord(20000))
	if err != nil {
		t.Fatal(err)
	}
	held, _ := ParseThreshold("held==requested")
	w.SetThresholds([]Threshold{held})
	for _, s := range fixtureSamples(12, 20000, time.Millisecond) {
		srv := stats.Snapshot{Kind: stats.KindGateway, Shards: []stats.Snapshot{{ID: "gw-0"}, {ID: "gw-1"}}}
		s.Server = &srv
		w.Update(s)
	}
	w.mu.Lock()
	shards := len(w.rec.Series[3].Server.Shards)
	w.mu.Unlock()
	if shards != 2 {
		t.Fatalf("a kept sample has %d gateway shards, want 2 until Finish", shards)
	}
	rec, err := w.Finish(stats.Summary{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary.Established != 19200 || len(rec.Thresholds) != 1 || rec.Thresholds[0].OK || len(rec.Series) != 12 || rec.Series[3].Server.Shards != nil {
		t.Fatalf("summary %+v thresholds %+v, %d samples", rec.Summary, rec.Thresholds, len(rec.Series))
	}
	if entries, _ := os.ReadDir(cwd); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == RecordFile || e.Name() == SeriesFile }) {
		t.Fatal("a Writer without a directory wrote files")
	}
}
