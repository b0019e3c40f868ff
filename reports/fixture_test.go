package reports

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/internal/stats"
)

var update = flag.Bool("update", false, "rewrite the golden files and the fixture run records in testdata")

// start is the fixed start of every fixture run, so goldens are stable.
var start = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// fixtureRecord is the start of a run record as swarm or bench would write
// it, on a fixed host.
func fixtureRecord(conns int) stats.Record {
	return stats.Record{
		Tool:    "imtool test",
		Command: "bench",
		Args:    []string{"imtool", "bench", "--conns", strconv.Itoa(conns), "--hold", "14s"},
		Options: map[string]any{"conns": conns, "hold": "14s", "rate": 5000, "ports": "7000-7003"},
		Environment: stats.Environment{
			Facts: host.Facts{
				Hostname: "loadhost-01", OS: "linux", Arch: "amd64", Kernel: "6.1.0-test",
				CPUs: 2, MemTotal: 8 << 30, MemAvailable: 6 << 30,
				NofileSoft: 20000, NofileHard: 20000, PortRange: [2]int{32768, 60999},
				GoVersion: "go1.26.0",
			},
			Tune: []string{
				"fs.nr_open            ok    1048576 ≥ 22024",
				"net.ipv4.ip_local_port_range  low  32768 60999 (28,232) < 40,000 needed",
			},
		},
		Started: start,
	}
}

// fixtureSamples simulates a bench run second by second: a ramp at about
// 4,000 conn/s that runs out of local ports near 19,200 connections, then a
// hold with heartbeats and messages, a few resets, a server and the host.
// everything is computed, nothing random, so the goldens stay put.
func fixtureSamples(seconds int, target int64, latencyScale time.Duration) []stats.Sample {
	var rec = map[string]*stats.Recorder{}
	for _, k := range []string{stats.LatConnect, stats.LatLogin, stats.LatHeartbeat, stats.LatAck, stats.LatDeliver} {
		rec[k] = &stats.Recorder{}
	}
	var out []stats.Sample
	var est, attempts, addrErrs, sent, pings int64
	const cap = 19200
	for i := 1; i <= seconds; i++ {
		phase := stats.PhaseRamp
		newConns := min(int64(4000+200*(i%3)), target-est, cap-est)
		if est >= cap || est >= target {
			phase = stats.PhaseHold
			newConns = 0
		}
		if phase == stats.PhaseRamp {
			attempts += newConns
			if est+newConns >= cap && target > cap {
				attempts += 800
				addrErrs += 800
			}
			for j := int64(0); j < newConns; j += 40 {
				d := latencyScale * time.Duration(300+(j*7919)%900/30*30) / 1000 // 30 values: small files
				rec[stats.LatConnect].Record(d)
				rec[stats.LatLogin].Record(2 * d)
			}
			est += newConns
		} else {
			for j := 0; j < 200; j++ {
				d := latencyScale * time.Duration(100+(j*104729)%400/20*20) / 1000
				rec[stats.LatHeartbeat].Record(d)
				rec[stats.LatAck].Record(3 * d / 2)
				rec[stats.LatDeliver].Record(2 * d)
			}
			sent += 200
			pings += 200
		}
		dropped := int64(0)
		if i > 8 {
			dropped = int64(i-8) * 5
		}
		lat := map[string]stats.Hist{}
		for k, r := range rec {
			if h := r.Snapshot(); h.Count > 0 {
				lat[k] = h
			}
		}
		swarm := stats.Snapshot{
			Kind: stats.KindSwarm, Time: start.Add(time.Duration(i) * time.Second), UptimeS: float64(i),
			Process: stats.Process{RSSBytes: 40<<20 + est*1400, FDs: est + 10, FDLimit: 20000, Processes: 1},
			Phase:   phase, Target: target, Attempts: attempts,
			Established: est, Held: est - dropped, Dropped: dropped,
			Errors: map[string]int64{},
			Sent:   sent, Acked: sent - sent/100, Delivered: sent - sent/50,
			Pings: pings, Pongs: pings,
			Latency:     lat,
			ConnectRate: float64(newConns),
		}
		if dropped > 0 {
			swarm.Drops = map[string]int64{"reset": dropped * 3 / 5, "server_close": dropped - dropped*3/5}
			swarm.Errors[stats.ErrConnReset] = dropped * 3 / 5
		}
		if addrErrs > 0 {
			swarm.Errors[stats.ErrAddrNotAvail] = addrErrs
			swarm.ErrorExample = map[string]string{stats.ErrAddrNotAvail: "connect 127.0.0.1:7002: cannot assign requested address"}
		}
		server := stats.Snapshot{
			Kind: stats.KindGateway, Time: swarm.Time,
			Process:     stats.Process{RSSBytes: 30<<20 + (est-dropped)*900, Processes: 1},
			Connections: est - dropped, Sessions: est - dropped,
		}
		out = append(out, stats.Sample{
			T: float64(i), Swarm: swarm, Server: &server,
			Host: &stats.Host{MemAvailable: 6<<30 - est*9000, TCPInUse: 2 * est, CPUPercent: 35},
		})
	}
	return out
}

// completeRun writes a finished run into dir through a Writer.
func completeRun(t *testing.T, dir string, conns int, latencyScale time.Duration) *stats.Record {
	t.Helper()
	w, err := NewWriter(dir, fixtureRecord(conns))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range fixtureSamples(20, int64(conns), latencyScale) {
		w.Update(s)
	}
	rec, err := w.Finish(stats.Summary{}, "")
	if err != nil {
		t.Fatal(err)
	}
	rec.Ended = start.Add(20 * time.Second)
	if err := writeRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// interruptedRun writes a run that stopped mid-ramp: run.json from
// NewWriter only, four samples and a torn fifth line in series.jsonl.
func interruptedRun(t *testing.T, dir string) {
	t.Helper()
	w, err := NewWriter(dir, fixtureRecord(20000))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range fixtureSamples(4, 20000, time.Millisecond) {
		w.Update(s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, SeriesFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"t":5,"swarm":{"kind":"swarm","established":17`)
	f.Close()
}

// fixtureDir returns testdata/NAME, rebuilt with -update.
func fixtureDir(t *testing.T, name string, build func(t *testing.T, dir string)) string {
	t.Helper()
	dir := filepath.Join("testdata", name)
	if *update {
		os.RemoveAll(dir)
		build(t, dir)
	}
	return dir
}

func fixtures(t *testing.T) map[string]string {
	return map[string]string{
		"complete": fixtureDir(t, "complete", func(t *testing.T, dir string) { completeRun(t, dir, 20000, time.Millisecond) }),
		"faster": fixtureDir(t, "faster", func(t *testing.T, dir string) {
			completeRun(t, dir, 10000, 700*time.Microsecond)
		}),
		"interrupted": fixtureDir(t, "interrupted", interruptedRun),
	}
}
