package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imtool/imtool/internal/stats"
)

// Load reads a run record from a run directory or its run.json. It refuses
// schema versions it does not know. A record that was never finished (the
// run crashed or was interrupted) is completed from series.jsonl — a torn
// last line is skipped — marked incomplete, and summarized from what was
// recorded.
func Load(path string) (*stats.Record, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the run: %w", err)
	}
	file := path
	if fi.IsDir() {
		file = filepath.Join(path, RecordFile)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the run record: %w", err)
	}
	var head struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s is not a run record (%w): point imtool report at the run directory or its %s", file, err, RecordFile)
	}
	if head.SchemaVersion == nil {
		return nil, fmt.Errorf("%s has no schema_version: it is not an imtool run record", file)
	}
	if v := *head.SchemaVersion; v < 1 || v > stats.RecordVersion {
		hint := "upgrade imtool"
		if v < 1 {
			hint = "the file is damaged or not an imtool run record"
		}
		return nil, fmt.Errorf("%s has schema version %d; this imtool reads 1–%d: %s",
			filepath.Base(file), v, stats.RecordVersion, hint)
	}
	var rec stats.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", file, err)
	}
	if rec.Complete || len(rec.Series) > 0 {
		return &rec, nil // finished, possibly with a reason for stopping early
	}
	series, err := readSeries(filepath.Join(filepath.Dir(file), SeriesFile))
	if err != nil {
		return nil, err
	}
	rec.Series = series
	if rec.Incomplete == "" {
		rec.Incomplete = "interrupted: no final record"
	}
	rec.Summary = Summarize(&rec)
	return &rec, nil
}

// readSeries reads a JSON-lines time series. The last line may be torn by a
// crash and is then skipped; a damaged line before it is an error. A
// missing file is an empty series: the run stopped before its first sample.
func readSeries(path string) ([]stats.Sample, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the run's time series: %w", err)
	}
	defer f.Close()
	var series []stats.Sample
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) == 0 {
			return series, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("cannot read the run's time series: %w", err)
		}
		torn := errors.Is(err, io.EOF) // no newline: written in part
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var s stats.Sample
		if jerr := json.Unmarshal(line, &s); jerr != nil {
			if torn {
				return series, nil
			}
			if _, perr := r.Peek(1); perr != nil {
				return series, nil // the last line, torn though newline-ended
			}
			return nil, fmt.Errorf("%s line %d is damaged (%w): the series cannot be read past it", path, n, jerr)
		}
		series = append(series, s)
		if torn {
			return series, nil
		}
	}
}
