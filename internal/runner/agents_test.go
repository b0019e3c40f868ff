package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
	"github.com/imtool/imtool/loadclient/agent/agenttest"
)

func agentOptions(urls ...string) Options {
	o := loadclient.DefaultOptions()
	o.Targets, o.Conns = []string{"127.0.0.1:9000"}, 30
	return Options{Swarm: o, Agents: urls, AgentToken: agenttest.Token}
}

// TestRunOnAgents runs the whole run loop over agents: the hold is timed by
// the coordinator, the record carries the per-host breakdown and the
// summary prints it.
func TestRunOnAgents(t *testing.T) {
	srvA, srvB := agenttest.Serve(t, 15, agenttest.Durations(time.Millisecond, 2*time.Millisecond, 10*time.Microsecond)), agenttest.Serve(t, 15, nil)
	o := agentOptions(srvA.URL, srvB.URL)
	o.Swarm.Hold = time.Second
	o.Every = 200 * time.Millisecond
	o.Out = t.TempDir()
	var out, errOut bytes.Buffer
	o.Stdout, o.Stderr = &out, &errOut
	start := time.Now()
	res, err := RunResult(context.Background(), o)
	if err != nil || res.Code != ExitOK {
		t.Fatalf("code %d err %v\n%s\n%s", res.Code, err, errOut.String(), out.String())
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("a 1s hold took %v", d)
	}
	if !strings.Contains(errOut.String(), "agent "+srvB.URL) || !strings.Contains(out.String(), "per agent host") {
		t.Fatalf("plan or per-host summary missing:\n%s\n%s", errOut.String(), out.String())
	}
	b, err := os.ReadFile(filepath.Join(o.Out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Options struct {
			Agents []agent.HostResult `json:"agents"`
		} `json:"options"`
		Summary stats.Summary `json:"summary"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if h := rec.Options.Agents; len(h) != 2 || h[0].Held != 15 || h[1].Held != 15 || h[1].Agent != srvB.URL || h[0].State != agent.HostDone || rec.Summary.Held != 30 {
		t.Fatalf("record: %+v, held %d", rec.Options.Agents, rec.Summary.Held)
	}
}
