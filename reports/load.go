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
	"slices"
	"strings"

	"github.com/imtool/imtool/internal/stats"
)

// Load reads a run record from a run directory or its run.json. It refuses
// schema versions it does not know. A record that was never finished (the
// run crashed or was interrupted) is completed from series.jsonl — a torn
// last line is skipped — marked incomplete, and summarized from what was
// recorded.
func Load(path string) (*stats.Record, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotARun, path)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the run: %w", err)
	}
	file := path
	if fi.IsDir() {
		file = filepath.Join(path, RecordFile)
	}
	data, err := os.ReadFile(file)
	if fi.IsDir() && errors.Is(err, os.ErrNotExist) {
		return nil, notARunDir(path)
	}
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

// ErrNotARun is a path that names no run: it does not exist, or is a
// directory without run.json.
var ErrNotARun = errors.New("not a run")

// maxListed bounds the runs a "not a run directory" error lists.
const maxListed = 10

// notARunDir explains a directory without run.json: it lists the runs
// inside it (a directory holding run.json, one or two levels down, newest
// first) and says how to report one.
func notARunDir(dir string) error {
	var runs []string
	for _, pattern := range []string{"*", filepath.Join("*", "*")} {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern, RecordFile))
		for _, m := range matches {
			runs = append(runs, filepath.Dir(m))
		}
	}
	if len(runs) == 0 {
		return fmt.Errorf("%w: %s has no %s and no runs inside it: point imtool report at the directory a swarm or bench wrote (its --out; bench writes ./imtool-runs/<time>/)", ErrNotARun, dir, RecordFile)
	}
	slices.SortFunc(runs, func(a, b string) int { return strings.Compare(b, a) }) // run names are times: newest first
	more := ""
	if len(runs) > maxListed {
		more = fmt.Sprintf("\n  … and %d more", len(runs)-maxListed)
		runs = runs[:maxListed]
	}
	return fmt.Errorf("%w: %s has no %s, but holds %d run(s):\n  %s%s\nreport one of them: imtool report %s",
		ErrNotARun, dir, RecordFile, len(runs), strings.Join(runs, "\n  "), more, runs[0])
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
