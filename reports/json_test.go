package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// mapKeys are objects whose keys are data (error classes, latency kinds,
// option names, ports), not schema.
var mapKeys = []string{"options", "errors", "drops", "latency", "hold_latency", "source_ips", "acks", "ports", "error_example"}

// keyPaths lists every schema key of a JSON document as a path
// ("summary.hold_latency.*.p99_s"), array items as "[]".
func keyPaths(v any, prefix string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		last := prefix[strings.LastIndex(prefix, ".")+1:]
		for k, child := range x {
			name := k
			if slices.Contains(mapKeys, last) {
				name = "*"
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			out[p] = true
			keyPaths(child, p, out)
		}
	case []any:
		for _, child := range x {
			keyPaths(child, prefix, out)
		}
	}
}

// assertSnakeCase checks that every schema key of doc is snake_case.
func assertSnakeCase(t *testing.T, what string, doc []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	paths := map[string]bool{}
	keyPaths(v, "", paths)
	for p := range paths {
		for _, k := range strings.Split(p, ".") {
			if k != "*" && !snakeCase.MatchString(k) {
				t.Errorf("%s: key %q (in %s) is not snake_case", what, k, p)
			}
		}
	}
}

// run.json's schema: every key is snake_case and documented in
// docs/RUN-RECORD.md (a key added to the record must be added there).
// The records are a real bench (testdata/same-a), a run with thresholds and
// an interrupted one.
func TestRunRecordSchema(t *testing.T) {
	doc, err := os.ReadFile("../docs/RUN-RECORD.md")
	if err != nil {
		t.Fatal(err)
	}
	f := fixtures(t)
	fresh := t.TempDir() // a record as this build writes it
	completeRun(t, fresh, 2000, time.Millisecond)
	for _, dir := range []string{"testdata/same-a", "testdata/same2-a", f["complete"], f["interrupted"], fresh} {
		data, err := os.ReadFile(dir + "/" + RecordFile)
		if err != nil {
			t.Fatal(err)
		}
		assertSnakeCase(t, dir, data)
		var v any
		json.Unmarshal(data, &v)
		paths := map[string]bool{}
		keyPaths(v, "", paths)
		for p := range paths {
			k := p[strings.LastIndex(p, ".")+1:]
			if k != "*" && !strings.Contains(string(doc), "`"+k+"`") {
				t.Errorf("%s: key %s is not documented in docs/RUN-RECORD.md", dir, p)
			}
		}
	}
}

// The JSON summary (swarm --json, bench --json, report --format json) is
// run.json without its series, and a record read back from it keeps the
// summary and thresholds.
func TestJSONSummary(t *testing.T) {
	rec := load(t, "testdata/same-a")
	th, _ := ParseThreshold("heartbeat.p99<50ms")
	rec.Thresholds = CheckThresholds([]Threshold{th}, rec.Summary)
	var out bytes.Buffer
	if err := Render(&out, rec, FormatJSON, ""); err != nil {
		t.Fatal(err)
	}
	assertSnakeCase(t, "report --format json", out.Bytes())
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["series"]; ok {
		t.Error("the JSON summary carries the series")
	}
	for _, k := range []string{"schema_version", "command", "options", "environment", "summary", "thresholds", "complete"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the JSON summary lacks %q", k)
		}
	}
	th0 := raw["thresholds"].([]any)[0].(map[string]any)
	hold := rec.Summary.HoldLatency["heartbeat"].P99
	if th0["expr"] != "heartbeat.p99<50ms" || th0["value"] != hold || th0["ok"] != (hold < 0.05) {
		t.Errorf("threshold %v, want heartbeat.p99 = %v", th0, hold)
	}
}
