package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// File names inside a run directory.
const (
	RecordFile = "run.json"
	SeriesFile = "series.jsonl"
)

// Writer owns a run's record as the run goes: the one place it is kept.
// It is a stats.Sink: each Update keeps one sample and appends it, without
// any per-shard parts (a few KB a second of run), as one JSON line to
// DIR/series.jsonl; Finish summarizes, checks the thresholds and writes the
// final DIR/run.json. With no directory it writes nothing and only keeps
// the record. The samples kept keep the server's and dispatcher's parts
// until Finish, which measures the faults' recovery with them (each gateway
// shard up and linked).
type Writer struct {
	dir        string
	thresholds []Threshold

	mu     sync.Mutex
	rec    stats.Record
	series *os.File
	err    error // the first failed write, reported by Close and Finish
}

// NewWriter creates dir and writes dir/run.json at once, marked incomplete,
// so an interrupted run still tells its options and environment. rec is the
// start of the record; its Series and Summary are filled in later. With dir
// "" nothing is written.
func NewWriter(dir string, rec stats.Record) (*Writer, error) {
	rec.SchemaVersion = stats.RecordVersion
	rec.Complete = false
	rec.Series = nil
	rec.Options = maps.Clone(rec.Options) // the writer's own: see SetOption
	if rec.Started.IsZero() {
		rec.Started = time.Now()
	}
	if dir == "" {
		return &Writer{rec: rec}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the run directory: %w", err)
	}
	if err := writeRecord(dir, &rec); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, SeriesFile))
	if err != nil {
		return nil, fmt.Errorf("cannot create the run's time series: %w", err)
	}
	return &Writer{dir: dir, rec: rec, series: f}, nil
}

// Update appends one sample to the series file and keeps it for the final
// record. A failed write is reported by Close or Finish.
func (w *Writer) Update(s stats.Sample) {
	kept := s
	kept.Swarm.Shards = nil
	kept.Swarm = kept.Swarm.Clone()
	for _, p := range []**stats.Snapshot{&kept.Server, &kept.Dispatcher} {
		if *p != nil {
			c := (*p).Clone()
			*p = &c
		}
	}
	var line []byte
	var err error
	if w.dir != "" {
		line, err = json.Marshal(compact(kept))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rec.Series = append(w.rec.Series, kept)
	if err == nil && w.series != nil {
		_, err = w.series.Write(append(line, '\n'))
	}
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("cannot append to %s: %w", filepath.Join(w.dir, SeriesFile), err)
	}
}

// compact copies a sample without per-shard parts, so the producer may go
// on changing its maps and memory stays small.
func compact(s stats.Sample) stats.Sample {
	s.Swarm.Shards = nil
	s.Swarm = s.Swarm.Clone()
	for _, p := range []**stats.Snapshot{&s.Server, &s.Dispatcher} {
		if *p != nil {
			c := **p
			c.Shards = nil
			c = c.Clone()
			*p = &c
		}
	}
	if s.Host != nil {
		h := *s.Host
		s.Host = &h
	}
	return s
}

// Close closes the series file. It is safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closeLocked()
}

func (w *Writer) closeLocked() error {
	if w.series != nil {
		if err := w.series.Close(); err != nil && w.err == nil {
			w.err = fmt.Errorf("cannot close the run's time series: %w", err)
		}
		w.series = nil
	}
	return w.err
}

// SetTeardown records what a run that started its own servers left behind.
func (w *Writer) SetTeardown(td *stats.Teardown) {
	w.mu.Lock()
	w.rec.Teardown = td
	w.mu.Unlock()
}

// SetFaults records the faults a bench applied to its servers.
func (w *Writer) SetFaults(f []stats.FaultEvent) {
	w.mu.Lock()
	w.rec.Faults = f
	w.mu.Unlock()
}

// SetThresholds sets the run's pass/fail criteria: Finish checks them on
// the summary and records how they came out.
func (w *Writer) SetThresholds(ts []Threshold) {
	w.mu.Lock()
	w.thresholds = ts
	w.mu.Unlock()
}

// SetOption adds or replaces one entry of the record's options, for what is
// known only at the end (a swarm on agents adds its per-host breakdown).
func (w *Writer) SetOption(key string, v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rec.Options == nil {
		w.rec.Options = map[string]any{}
	}
	w.rec.Options[key] = v
}

// Finish closes the series and writes the final run.json atomically, with
// the series, the summary, the thresholds' results and the end time. A
// zero summary is computed with Summarize. incompleteReason is empty for a
// run that finished, or says why it did not ("interrupted by SIGINT during
// ramp"). The returned record is the run's, also when writing it failed
// (the error says so).
func (w *Writer) Finish(summary stats.Summary, incompleteReason string) (*stats.Record, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	closeErr := w.closeLocked()
	rec := w.rec
	rec.Ended = time.Now()
	rec.Complete = incompleteReason == ""
	rec.Incomplete = incompleteReason
	if reflect.ValueOf(summary).IsZero() {
		summary = Summarize(&rec)
	}
	rec.Summary = summary
	rec.Thresholds = CheckThresholds(w.thresholds, summary)
	series := make([]stats.Sample, len(rec.Series))
	for i, smp := range rec.Series {
		series[i] = compact(smp)
	}
	rec.Series = series
	if w.dir == "" {
		return &rec, closeErr
	}
	if err := writeRecord(w.dir, &rec); err != nil {
		return &rec, errors.Join(err, closeErr)
	}
	return &rec, closeErr
}

// writeRecord writes dir/run.json through a temporary file and a rename, so
// a reader never sees half a record.
func writeRecord(dir string, rec *stats.Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the run record: %w", err)
	}
	tmp, err := os.CreateTemp(dir, RecordFile+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot write the run record: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644) // CreateTemp makes it private; a record is not secret
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, RecordFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write the run record: %w", err)
	}
	return nil
}
