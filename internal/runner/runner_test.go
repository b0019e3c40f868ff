package runner

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/testfill"
	"github.com/imtool/imtool/loadclient"
)

// listen accepts and holds connections on a loopback port until cleanup.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestRunHoldsAndRecords(t *testing.T) {
	addr := listen(t)
	dir := filepath.Join(t.TempDir(), "run")
	var out, errOut bytes.Buffer
	res, err := RunResult(context.Background(), Options{
		Swarm: loadclient.Options{Targets: []string{addr}, Conns: 30, Proto: loadclient.ProtoRaw, Hold: 1200 * time.Millisecond, Procs: 1},
		Out:   dir, Stdout: &out, Stderr: &errOut, Every: 200 * time.Millisecond, Args: []string{"swarm", "--test"},
	})
	if err != nil || res.Code != ExitOK {
		t.Fatalf("code %d err %v\n%s", res.Code, err, out.String())
	}
	if s := res.Summary; s.Requested != 30 || s.Held != 30 || s.Established != 30 || !res.Record.Complete {
		t.Fatalf("summary %+v", s)
	}
	if len(res.Record.Series) < 3 || res.Record.Series[0].Swarm.Attempts != 0 {
		t.Fatalf("series of %d samples, the first should be the baseline", len(res.Record.Series))
	}
	for _, f := range []string{"run.json", "series.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(out.String(), "held 30/30  connects 30") || !strings.Contains(errOut.String(), "plan: 30 connections") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
}

func TestRunShortfallAndRefusal(t *testing.T) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	code, err := Run(context.Background(), Options{
		Swarm:  loadclient.Options{Targets: []string{addr}, Conns: 5, Proto: loadclient.ProtoRaw, Hold: time.Millisecond, Procs: 1},
		Stdout: &out, Stderr: &out, Every: 100 * time.Millisecond,
	})
	if code != ExitShort || err == nil || !strings.Contains(err.Error(), "econnrefused") {
		t.Fatalf("code %d err %v", code, err)
	}
	code, err = Run(context.Background(), Options{Swarm: loadclient.Options{Proto: "nope"}, Stdout: &out, Stderr: &out})
	if code != ExitUsage || err == nil {
		t.Fatalf("code %d err %v", code, err)
	}
}

func TestRunInterrupted(t *testing.T) {
	addr := listen(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := RunResult(ctx, Options{
		Swarm:  loadclient.Options{Targets: []string{addr}, Conns: 1000, Rate: 100, Proto: loadclient.ProtoRaw, Hold: time.Hour, Procs: 1},
		Stdout: &out, Stderr: &out, Every: 100 * time.Millisecond,
	})
	if res.Code != ExitShort || err == nil || res.Record.Complete || !strings.Contains(res.Record.Incomplete, "interrupted during ramp") {
		t.Fatalf("code %d err %v incomplete %q", res.Code, err, res.Record.Incomplete)
	}
}

// Every field of the swarm's options reaches a shard as the parent has it
// (through the environment entry shard.Start gives the child and
// shard.ReadOptions, which the child's `imtool swarm` calls), but for the
// shard's own slice, the plan's sources, no hold of its own and one
// process. The options are filled by reflection, so a field added later
// is checked too; only Lookup (a func) stays behind, by design.
func TestShardOptionsReachTheChild(t *testing.T) {
	var o loadclient.Options
	if skipped := testfill.Fill(&o); !slices.Equal(skipped, []string{"Options.Lookup"}) {
		t.Fatalf("fields that cannot travel to a shard: %v (only Lookup may stay behind: give the new one a JSON form)", skipped)
	}
	plan := &loadclient.Plan{Shards: []loadclient.Shard{{Index: 0, First: 0, Count: 5}, {Index: 1, First: 5, Count: 7}},
		Sources: []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}}
	want := ShardOptions(o, plan, 1)
	kv, err := shard.OptionsEnv(want)
	if err != nil {
		t.Fatal(err)
	}
	k, v, _ := strings.Cut(kv, "=")
	t.Setenv(k, v)
	var got loadclient.Options
	if err := shard.ReadOptions(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the shard reads\n%+v\nthe parent sent\n%+v", got, want)
	}
	if got.Shard != plan.Shards[1] || !slices.Equal(got.SourceIPs, plan.Sources) || got.Hold != 0 || got.Procs != 1 {
		t.Fatalf("shard %+v sources %v hold %v procs %d", got.Shard, got.SourceIPs, got.Hold, got.Procs)
	}
	ov, gv := reflect.ValueOf(o), reflect.ValueOf(got)
	for i := range ov.NumField() {
		switch name := ov.Type().Field(i).Name; name {
		case "Shard", "SourceIPs", "Hold", "Procs", "Lookup":
		default:
			if !reflect.DeepEqual(ov.Field(i).Interface(), gv.Field(i).Interface()) {
				t.Errorf("%s: the parent had %v, the shard got %v", name, ov.Field(i), gv.Field(i))
			}
		}
	}
}
