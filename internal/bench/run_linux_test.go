package bench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// runBench builds imtool, runs `imtool bench ARGS --tui=false --out DIR`
// (killed after limit) and returns its run record and output. It fails the
// test when the bench fails or leaves no record.
func runBench(t *testing.T, limit time.Duration, args ...string) (stats.Record, []byte) {
	t.Helper()
	bin, err := rt.BuildBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"bench"}, args...), "--tui=false", "--out", dir)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imtool bench %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatalf("no run record: %v\n%s", err, out)
	}
	var rec stats.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("run.json: %v", err)
	}
	return rec, out
}
