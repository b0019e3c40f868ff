package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imtool/imtool/reports"
)

// imtoolRun runs the CLI in this process and returns its exit code, stdout
// and stderr.
func imtoolRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runTo(append([]string{"imtool"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every usage error exits 2 with the fix in the message; none prints the
// whole help.
func TestUsageErrors(t *testing.T) {
	empty := t.TempDir()
	runs := t.TempDir()
	for _, name := range []string{"20261130-1200", "20261130-1300"} {
		os.MkdirAll(filepath.Join(runs, name), 0o755)
		os.WriteFile(filepath.Join(runs, name, "run.json"), []byte(`{"schema_version":1}`), 0o644)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"swarm", "--con", "100"}, []string{"swarm has no flag --con; did you mean --conns?"}},
		{[]string{"bench", "--hodl", "5s"}, []string{"bench has no flag --hodl; did you mean --hold?"}},
		{[]string{"swarm", "--heartbeat", "5"}, []string{`--heartbeat "5" is not a duration`, "write 5s"}},
		{[]string{"swarm", "--hold=soon"}, []string{`--hold "soon" is not a duration`, "500ms, 5s, 2m"}},
		{[]string{"swarm", "--conns", "many"}, []string{`--conns "many": not a valid value`}}, // flag parsing: nothing runs
		{[]string{"swarm", "--conns"}, []string{"--conns needs a value (see imtool swarm --help)"}},
		{[]string{"swram"}, []string{`no command "swram"; did you mean "swarm"?`}},
		{[]string{"help", "swram"}, []string{`no command "swram"; did you mean "swarm"?`}},
		{[]string{"tune", "chek"}, []string{`tune has no command "chek"; did you mean "check"?`}},
		{[]string{"report", "compare", "a", "b", "--noise", "some"}, []string{`--noise "some": give a percentage`}},
		{[]string{"report", "x", "--formt", "md"}, []string{"report has no flag --formt; did you mean --format?"}},
		{[]string{"server", "--ports", "70000"}, []string{"--ports 70000 is neither a count of ports (at most 4096) nor a port (1-65535)"}},
		{[]string{"server", "--ports", "30", "--base-port", "65530"}, []string{"--ports 30 ports from --base-port (65530) go past 65535: lower --base-port"}},
		{[]string{"plan", "--server-ports", "70000"}, []string{"--server-ports 70000 is neither"}},
		{[]string{"tune", "check", "--ports", "9000-80"}, []string{`--ports "9000-80": range "9000-80" runs backwards`}},
		// Were these accepted, the swarm would dial only port 1 of loopback, once.
		{[]string{"swarm", "--target", "127.0.0.1:1", "--conns", "1", "--procs", "1", "--stats", "", "--threshold", "hb.p99<50ms"},
			[]string{`--threshold "hb.p99<50ms": no figure "hb.p99"`}},
		{[]string{"swarm", "--target", "127.0.0.1:1", "--conns", "1", "--procs", "1", "--stats", "", "--threshold", "heartbeat.p99"},
			[]string{"write FIGURE OP VALUE"}},
		{[]string{"report", empty}, []string{"has no run.json and no runs inside it", "--out"}},
		{[]string{"report", runs}, []string{"has no run.json, but holds 2 run(s)", "20261130-1300\n  " + filepath.Join(runs, "20261130-1200"),
			"report one of them: imtool report " + filepath.Join(runs, "20261130-1300")}},
	} {
		code, out, errOut := imtoolRun(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, exitUsage, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, errOut)
			}
		}
		if strings.Contains(out, "USAGE:") || strings.Contains(errOut, "USAGE:") {
			t.Errorf("%v: the whole help was printed with the error", tc.args)
		}
	}
}

// A bare number above 4096 is the one port it names, in every command.
func TestOnePort(t *testing.T) {
	code, out, errOut := imtoolRun(t, "tune", "check", "--root", fixture("tuned"), "--role", "server", "--ports", "9000", "--json")
	if code != 0 {
		t.Fatalf("tune check --ports 9000: exit %d\n%s", code, errOut)
	}
	var rep struct {
		Target struct{ Ports []int } `json:"target"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Target.Ports) != 1 || rep.Target.Ports[0] != 9000 {
		t.Errorf("tune check --ports 9000 checked ports %v (%v), want [9000]", rep.Target.Ports, err)
	}
	code, out, errOut = imtoolRun(t, "plan", "--root", fixture("fresh"), "--server-ports", "9000", "--json")
	var plan struct {
		Options struct {
			ServerPorts []int `json:"server_ports"`
		} `json:"options"`
	}
	if err := json.Unmarshal([]byte(out), &plan); code != 0 || err != nil || len(plan.Options.ServerPorts) != 1 || plan.Options.ServerPorts[0] != 9000 {
		t.Errorf("plan --server-ports 9000: exit %d, ports %v (%v)\n%s", code, plan.Options.ServerPorts, err, errOut)
	}
}

// tune check --json and tune apply --json use snake_case keys, as every
// JSON imtool prints.
func TestTuneJSON(t *testing.T) {
	code, out, _ := imtoolRun(t, "tune", "check", "--root", fixture("fresh"), "--json")
	if code != exitShort {
		t.Errorf("tune check on a fresh host: exit %d, want %d", code, exitShort)
	}
	assertSnakeCase(t, "tune check --json", out)
	code, out, errOut := imtoolRun(t, "tune", "apply", "--root", fixture("tuned"), "--role", "server", "--yes", "--json")
	if code != 0 {
		t.Fatalf("tune apply on a tuned host: exit %d\n%s", code, errOut)
	}
	assertSnakeCase(t, "tune apply --json", out)
	var res struct {
		OK      bool     `json:"ok"`
		Changed []string `json:"changed"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.OK || len(res.Changed) != 0 {
		t.Errorf("tune apply --json on a tuned host: %+v (%v)\n%s", res, err, out)
	}
}

// The user's question, answered for the range given, as the first line.
func TestPlanHeadline(t *testing.T) {
	code, out, _ := imtoolRun(t, "plan", "--root", fixture("fresh"), "--conns", "1000000", "--server-ports", "1", "--port-range", "5000-65000")
	want := "answer: 1,000,000 connections to 1 server port on 1 server IP, with ephemeral ports 5000-65000 (60,001 ports), need 17 "
	if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "and 34 to keep") {
		t.Errorf("exit %d; the plan does not open with its answer %q…34:\n%s", code, want, out)
	}
	code, out, _ = imtoolRun(t, "plan", "--root", fixture("fresh"), "--json")
	if code != 0 {
		t.Fatalf("plan --json: exit %d", code)
	}
	assertSnakeCase(t, "plan --json", out)
}

// Every command documents its exit codes and shows each default once.
func TestHelp(t *testing.T) {
	twoDefaults := regexp.MustCompile(`\(default:.*\(default:`)
	for _, cmd := range [][]string{{"bench"}, {"server"}, {"dispatcher"}, {"dash"}, {"swarm"}, {"agent"}, {"plan"}, {"report"},
		{"report", "compare"}, {"tune"}, {"tune", "check"}, {"tune", "apply"}, {"tune", "revert"}, {"tune", "script"}} {
		code, out, _ := imtoolRun(t, append(cmd, "--help")...)
		if code != 0 {
			t.Errorf("%v --help: exit %d", cmd, code)
		}
		if !strings.Contains(out, "EXIT STATUS") || !strings.Contains(out, "2 bad flags") {
			t.Errorf("%v --help does not list its exit codes", cmd)
		}
		for _, line := range strings.Split(out, "\n") {
			if twoDefaults.MatchString(line) {
				t.Errorf("%v --help shows two defaults: %s", cmd, strings.TrimSpace(line))
			}
		}
	}
	// swarm --help lists every figure a threshold may name.
	_, swarmHelp, _ := imtoolRun(t, "swarm", "--help")
	figures, _, _ := strings.Cut(reports.ThresholdFigures(), ";")
	for _, f := range strings.Split(figures, ", ") {
		if !strings.Contains(strings.Join(strings.Fields(swarmHelp), " "), f) {
			t.Errorf("swarm --help does not list the threshold figure %s", f)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |"} {
		if !strings.Contains(string(readme), row) {
			t.Errorf("the README's exit codes lack the row %s", row)
		}
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// assertSnakeCase checks every key of a JSON document; objects under
// dataKeys hold data as keys (classes, kinds, option names).
func assertSnakeCase(t *testing.T, what, doc string) {
	t.Helper()
	dataKeys := map[string]bool{"options": true, "errors": true, "drops": true, "latency": true, "hold_latency": true, "source_ips": true, "acks": true, "ports": true, "error_example": true}
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("%s: not JSON: %v", what, err)
	}
	var walk func(v any, parent string)
	walk = func(v any, parent string) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if !dataKeys[parent] && !snakeCase.MatchString(k) {
					t.Errorf("%s: key %q is not snake_case", what, k)
				}
				walk(child, k)
			}
		case []any:
			for _, child := range x {
				walk(child, parent)
			}
		}
	}
	walk(v, "")
}

// report compare: its own exit code for a regression, JSON for scripts.
func TestReportCompareExit(t *testing.T) {
	code, out, errOut := imtoolRun(t, "report", "compare", reportRun("complete"), reportRun("faster"), "--fail-on-regression", "10%", "--json")
	if code != exitRegression || code == exitFailed {
		t.Errorf("a regression exits %d, want %d (not %d, a failed run)", code, exitRegression, exitFailed)
	}
	if !strings.Contains(errOut, "B regressed beyond 10%: connections held") {
		t.Errorf("stderr does not name the regression:\n%s", errOut)
	}
	assertSnakeCase(t, "report compare --json", out)
	code, _, _ = imtoolRun(t, "report", "compare", reportRun("same-a"), reportRun("same-b"), "--fail-on-regression", "10%")
	if code != 0 {
		t.Errorf("two identical benches back to back: exit %d, want 0", code)
	}
	code, out, _ = imtoolRun(t, "report", reportRun("same-a"), "--format", "json")
	if code != 0 {
		t.Errorf("report --format json: exit %d", code)
	}
	assertSnakeCase(t, "report --format json", out)
}
