//go:build linux

package loadclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// TestMeasureConnectRate measures, in one run, the raw epoll dialer and the
// swarm opening 19,000 connections to a gateway on IMTOOL_MEASURE_BASE
// (20 ports), spread over the ports and then all on one port from one
// source. It reports figures and asserts nothing; without the variable it
// is skipped. Example:
//
//	imtool server --listen 127.0.0.1 --base-port 29000 --ports 20 &
//	IMTOOL_MEASURE_BASE=29000 go test -run TestMeasureConnectRate -v ./loadclient/
func TestMeasureConnectRate(t *testing.T) {
	base, err := strconv.Atoi(os.Getenv("IMTOOL_MEASURE_BASE"))
	if err != nil {
		t.Skip("set IMTOOL_MEASURE_BASE to the first port of a gateway's 20 ports")
	}
	const n = 19000
	var dests []netip.AddrPort
	for p := base; p < base+20; p++ {
		dests = append(dests, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p)))
	}
	one := netip.MustParseAddr("127.0.0.1")
	settle := func() { time.Sleep(2 * time.Second) }

	swarm := func(name string, o Options) {
		o.BasePort, o.Conns, o.Rate, o.Hold, o.Procs, o.Close = base, n, 1e7, time.Millisecond, 1, CloseRST
		sw, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := sw.Final()
		t.Logf("%-44s %6d held in %5.2fs = %6.0f conn/s (errors %v)", name, s.Held, sw.RampSeconds(), float64(s.Held)/sw.RampSeconds(), s.Errors)
		settle()
	}
	raw := func(name string, d []netip.AddrPort, src netip.Addr) {
		r, err := RawDial(d, src, n, DefaultMaxInflight)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-44s %6d held in %5.2fs = %6.0f conn/s (failed %d)", name, r.Established, r.Elapsed.Seconds(), r.Rate, r.Failed)
		settle()
	}
	raw("raw epoll dialer, 20 ports", dests, netip.Addr{})
	swarm("swarm raw, 20 ports", Options{Proto: ProtoRaw})
	swarm("swarm raw, 20 ports, 1 loop", Options{Proto: ProtoRaw, Loops: 1})
	swarm("swarm imtool (login), 20 ports", Options{Proto: ProtoIMTool, Heartbeat: 30 * time.Second})
	raw("raw epoll dialer, 1 port, 1 source", dests[:1], one)
	swarm("swarm raw, 1 port, 1 source (plan warns)", Options{Proto: ProtoRaw, Ports: []uint16{uint16(base)}, SourceIPs: []netip.Addr{one}})
	swarm("swarm raw, 1 port, auto sources (the plan)", Options{Proto: ProtoRaw, Ports: []uint16{uint16(base)}})
	many, _ := ParseSourceIPs("127.0.0.2-127.0.0.20")
	swarm("swarm raw, 1 port, 19 sources", Options{Proto: ProtoRaw, Ports: []uint16{uint16(base)}, SourceIPs: many})
	swarm("swarm raw, 20 ports, 19 sources", Options{Proto: ProtoRaw, SourceIPs: many})
	raw("raw epoll dialer, 20 ports (again)", dests, netip.Addr{})
}

// TestMeasureMemory reports the swarm's user-space memory per held
// connection: RSS growth from after New to the hold, divided by the
// connections held, for raw and for imtool with heartbeats, 19,000
// connections each. Snapshot is not called meanwhile (it allocates, and
// its garbage would be counted too). Asserts nothing.
//
//	IMTOOL_MEASURE_BASE=29000 go test -run TestMeasureMemory -v ./loadclient/
func TestMeasureMemory(t *testing.T) {
	base, err := strconv.Atoi(os.Getenv("IMTOOL_MEASURE_BASE"))
	if err != nil {
		t.Skip("set IMTOOL_MEASURE_BASE to the first port of a gateway's 20 ports")
	}
	for _, o := range []Options{
		{Proto: ProtoRaw},
		{Proto: ProtoIMTool, Heartbeat: 30 * time.Second},
		{Proto: ProtoIMTool, Heartbeat: 2 * time.Second},
	} {
		o.BasePort, o.Conns, o.Rate, o.Hold, o.Procs, o.Close = base, 19000, 20000, time.Hour, 1, CloseRST
		sw, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
		before := stats.ReadProcess().RSSBytes
		go func() { _ = sw.Run(context.Background()) }()
		for sw.Phase() != stats.PhaseHold {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(3 * time.Second) // heartbeats and wheel turns in steady state
		after := stats.ReadProcess().RSSBytes
		held := sw.HeldAtEnd()
		t.Logf("%-6s heartbeat %-4v: held %d, RSS %.1f → %.1f MiB: %.0f B per connection",
			o.Proto, o.Heartbeat, held, float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/float64(held))
		sw.Stop()
		<-sw.Done()
		time.Sleep(2 * time.Second)
	}
}

// TestMeasureLatencyTruth puts the swarm's heartbeat figures beside an
// independent single-socket client's (refservertest.PingRTT, one PING every
// 10 ms) in the same run: (a) 1,000 connections to `imtool server` on an
// otherwise idle machine, (b) the default `imtool bench`, probed on its
// gateway's first port during the hold. It reports and asserts nothing;
// without IMTOOL_MEASURE_LATENCY=1 it is skipped. Run it on an idle machine:
//
//	IMTOOL_MEASURE_LATENCY=1 go test -run TestMeasureLatencyTruth -v -timeout 10m ./loadclient/
func TestMeasureLatencyTruth(t *testing.T) {
	if os.Getenv("IMTOOL_MEASURE_LATENCY") == "" {
		t.Skip("set IMTOOL_MEASURE_LATENCY=1 to measure")
	}
	bin, err := rt.BuildBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	probeUID := uint64(1) << 62 // no swarm connection logs in as it
	measure := func(name, addr string, args ...string) {
		dir := filepath.Join(t.TempDir(), "run")
		ctx, cancel := context.WithCancel(context.Background())
		probed := make(chan []rt.RTT, 1)
		go func() {
			r, err := rt.PingRTT(ctx, addr, probeUID, 10*time.Millisecond)
			if err != nil {
				t.Log(err)
			}
			probed <- r
		}()
		out, err := exec.Command(bin, append(args, "--tui=false", "--out", dir)...).CombinedOutput()
		cancel()
		rtts := <-probed
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		rec := readRecord(t, dir)
		from, to := holdWindow(rec)
		var hold []int64
		for _, r := range rtts {
			if r.At.After(from) && r.At.Before(to) {
				hold = append(hold, int64(r.D))
			}
		}
		sw := rec.Summary.HoldLatency[stats.LatHeartbeat]
		pr := stats.Summarize(histOf(hold))
		t.Logf("%s, hold: swarm heartbeat p50 %.3f ms p99 %.3f ms (%d); single-socket client p50 %.3f ms p99 %.3f ms (%d)",
			name, sw.P50*1e3, sw.P99*1e3, sw.Count, pr.P50*1e3, pr.P99*1e3, pr.Count)
	}
	ports, _ := rt.FreePorts(t, 1)
	base := ports[0]
	srv := rt.Start(t, bin, "server", "--listen", "127.0.0.1", "--base-port", strconv.Itoa(base), "--ports", "20", "--stats", "")
	rt.Eventually(t, 10*time.Second, "the gateway listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", base+19))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	measure("(a) imtool server, 1,000 connections", fmt.Sprintf("127.0.0.1:%d", base),
		"swarm", "--target", fmt.Sprintf("127.0.0.1:%d-%d", base, base+19), "--conns", "1000",
		"--heartbeat", "1s", "--hold", "10s", "--msg-rate", "100", "--stats", "")
	srv.Kill()
	measure("(b) imtool bench (default)", "127.0.0.1:9000", "bench")
}

func readRecord(t testing.TB, dir string) stats.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec stats.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// holdWindow is the wall-clock span of the samples in the hold phase.
func holdWindow(rec stats.Record) (from, to time.Time) {
	for _, s := range rec.Series {
		if s.Swarm.Phase != stats.PhaseHold {
			continue
		}
		at := rec.Started.Add(time.Duration(s.T * float64(time.Second)))
		if from.IsZero() {
			from = at
		}
		to = at
	}
	return from, to
}

func histOf(ns []int64) stats.Hist {
	var r stats.Recorder
	for _, v := range ns {
		r.Record(time.Duration(v))
	}
	return r.Snapshot()
}
