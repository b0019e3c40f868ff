package bench

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestBenchChurn runs a sharded swarm (two processes) with --churn through
// the real bench: every shard churns (the option reaches the shards), the
// churned connections are neither drops nor errors, and the run ends whole
// with the three counts agreeing, its exit status 0.
func TestBenchChurn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a private network namespace needs root")
	}
	const n = 4000
	rec, out := runBench(t, 3*time.Minute, "--netns", "--conns", strconv.Itoa(n), "--procs", "2",
		"--hold", "6s", "--heartbeat", "2s", "--msg-rate", "200", "--churn", "5%/s", "--close", "rst")
	s := rec.Summary
	// 5%/s of 4,000 is 200/s, split between the shards by their share:
	// one shard alone would churn half of it.
	if want := 0.6 * 200 * s.HoldSeconds; float64(s.Churned) < want {
		t.Errorf("churned %d in a %.1f s hold, want at least %.0f: did every shard churn?", s.Churned, s.HoldSeconds, want)
	}
	if s.Dropped != 0 || len(s.Errors) != 0 || s.Held != n || !rec.Complete {
		t.Errorf("dropped %d, errors %v, held %d of %d, complete %v; want no drop or error, all held",
			s.Dropped, s.Errors, s.Held, n, rec.Complete)
	}
	if rec.Options["churn"] != "5%/s" || rec.Options["churn_per_s"] != 200.0 {
		t.Errorf("record options churn %v, %v per s; want 5%%/s, 200", rec.Options["churn"], rec.Options["churn_per_s"])
	}
	// The three counts are read moments apart (the swarm's and the
	// gateways' /stats, then sockstat) while 200 connections a second close
	// and redial: they may differ by the churn of those moments, 100 ms of
	// it at most, besides the usual 0.1%.
	if c := s.Counts; c == nil {
		t.Error("no counts")
	} else if hi, lo := max(c.Swarm, c.Server, c.Kernel), min(c.Swarm, c.Server, c.Kernel); hi-lo > int64(0.001*float64(hi))+20 {
		t.Errorf("counts %+v: want the three within 0.1%% and 100 ms of churn (20)", c)
	}
	if s.HoldLatency["login"].Count == 0 {
		t.Errorf("no login during the hold: the churn's redials were not measured")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
