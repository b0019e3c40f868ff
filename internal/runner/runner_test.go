package runner

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if !strings.Contains(out.String(), "established 30/30") || !strings.Contains(errOut.String(), "plan: 30 connections") {
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

func TestShardArgsRoundTrip(t *testing.T) {
	s := loadclient.Shard{Index: 2, First: 30000, Count: 15000}
	got, err := ParseShard(FormatShard(s))
	if err != nil || got != s {
		t.Fatalf("%+v %v", got, err)
	}
	args := SwarmArgs(loadclient.Options{Targets: []string{"127.0.0.1"}, Conns: 60000, Rate: 10000, Ports: []uint16{9000, 9001}}, s)
	joined := strings.Join(args, " ")
	for _, want := range []string{"swarm", "--shard 2:30000:15000", "--conns 60000", "--procs 1", "--ports 9000-9001", "--stats  ", "--hold 0"} {
		if !strings.Contains(joined, want) {
			t.Errorf("args %q lack %q", joined, want)
		}
	}
}
