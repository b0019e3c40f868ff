//go:build linux

package loadclient

import (
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// imtoolScenario is the imtool protocol as a scenario file.
func imtoolScenario(tb testing.TB) *ScenarioFile {
	tb.Helper()
	sf, _, err := LoadScenario(filepath.Join("..", "examples", "protocols", "imtool.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	return sf
}

// BenchmarkScenarioRead is a scenario's read path: 16 PONGs, ACKs and
// DELIVERs of the imtool protocol per op, cut by its length framing,
// recognised by field matchers and timed by the time they carry, as
// BenchmarkReadFrames does for the built-in protocol. 0 allocs/op.
func BenchmarkScenarioRead(b *testing.B) {
	l, peer := benchLoop(b, Options{Scenario: imtoolScenario(b), Heartbeat: time.Second, MsgRate: 1})
	benchReads(b, l, peer, func(now uint64) uint64 { return now })
	if k := l.k; l.conns[0].state != stHeld || k.pongs.Load() != int64(16*b.N) || k.acked.Load() != int64(16*b.N) || k.delivered.Load() != int64(16*b.N) {
		b.Fatalf("state %d pongs %d acks %d delivered %d", l.conns[0].state, k.pongs.Load(), k.acked.Load(), k.delivered.Load())
	}
}

// BenchmarkScenarioWrite is a scenario's write path: a heartbeat and a
// message built from their templates and written. 0 allocs/op.
func BenchmarkScenarioWrite(b *testing.B) {
	l, peer := benchLoop(b, Options{Scenario: imtoolScenario(b), Heartbeat: time.Second, MsgRate: 1})
	buf := make([]byte, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := l.c.now()
		l.proto.beat(l.exch(0), now)
		l.proto.send(l.exch(0), now)
		if i%64 == 63 {
			unix.Read(peer, buf)
		}
	}
	b.StopTimer()
	if l.conns[0].state != stHeld {
		b.Fatal("the connection was closed")
	}
}

// BenchmarkScenarioCost holds b.N connections (give -benchtime 20000x)
// against `imtool server` twice, side by side: with the built-in imtool
// protocol and with the imtool protocol from its scenario file, heartbeats
// every second. Per protocol it reports the swarm's private memory per held
// connection (its summary) and the swarm's CPU per heartbeat round trip
// (the CPU time of its processes from /proc over 5 s of the hold, divided
// by the pongs in that time), and the same for the gateway. Alone on the
// machine:
//
//	go test -run XXX -bench ScenarioCost -benchtime 20000x -timeout 20m ./loadclient/
func BenchmarkScenarioCost(b *testing.B) {
	if bt := flag.Lookup("test.benchtime"); bt == nil || !strings.HasSuffix(bt.Value.String(), "x") {
		b.Skip("give the connections as -benchtime 20000x (it starts a gateway and two swarms: left out of a plain -bench .)")
	}
	bin := rt.Binary(b)
	file := filepath.Join("..", "examples", "protocols", "imtool.yaml")
	for _, pc := range []struct{ name, flag, value string }{{"builtin", "--proto", ProtoIMTool}, {"scenario", "--scenario", file}} {
		b.Run(pc.name, func(b *testing.B) { benchScenarioCost(b, bin, pc.flag, pc.value) })
	}
}

func benchScenarioCost(b *testing.B, bin, protoFlag, protoValue string) {
	n := b.N
	_, ports := rt.FreePorts(b, n/20000+2)
	statsURL := fmt.Sprintf("http://127.0.0.1:%d/stats", rt.FreePort(b))
	gw := rt.Start(b, bin, "server", "--listen", "127.0.0.1", "--ports", ports, "--procs", "auto",
		"--max-conns", strconv.Itoa(n+1000), "--stats", strings.TrimSuffix(strings.TrimPrefix(statsURL, "http://"), "/stats"))
	b.Cleanup(func() { gw.Signal(syscall.SIGTERM); gw.Wait(30 * time.Second) })
	rt.WaitStats(b, statsURL, 30*time.Second, "the gateway's /stats", func(s stats.Snapshot) bool { return s.Processes > 0 })
	dir := b.TempDir()
	swarmStats := fmt.Sprintf("127.0.0.1:%d", rt.FreePort(b))
	const hold = 12 * time.Second
	b.ResetTimer()
	sw := rt.Start(b, bin, "swarm", "--target", "127.0.0.1:"+ports, protoFlag, protoValue, "--conns", strconv.Itoa(n),
		"--procs", "auto", "--hold", hold.String(), "--heartbeat", "1s", "--stats", swarmStats, "--tui=false", "--out", dir)
	swURL := "http://" + swarmStats + "/stats"
	rt.WaitStats(b, swURL, time.Minute, "the swarm's hold", func(s stats.Snapshot) bool { return s.Phase == stats.PhaseHold })
	b.StopTimer()
	time.Sleep(2 * time.Second) // past the first heartbeats of the hold
	sw0, err0 := rt.GetStats(swURL)
	gw0, err1 := rt.GetStats(statsURL)
	time.Sleep(5 * time.Second)
	sw1, err2 := rt.GetStats(swURL)
	gw1, err3 := rt.GetStats(statsURL)
	if err0 != nil || err1 != nil || err2 != nil || err3 != nil {
		b.Fatal(err0, err1, err2, err3)
	}
	if err, ended := sw.Wait(hold + time.Minute); !ended || err != nil {
		b.Fatalf("swarm: %v (ended %v):\n%s", err, ended, sw.Output())
	}
	s := readRecord(b, dir).Summary
	if s.Held != int64(n) || gw1.Sessions != int64(n) || len(s.Errors) != 0 {
		b.Fatalf("held %d, the gateway counted %d sessions: want %d (errors %v)", s.Held, gw1.Sessions, n, s.Errors)
	}
	rtt := float64(sw1.Pongs - sw0.Pongs)
	b.ReportMetric(s.ClientBytesPer, "client-B/conn")
	b.ReportMetric((sw1.CPUSeconds-sw0.CPUSeconds)*1e6/rtt, "swarm-µs/beat")
	b.ReportMetric((gw1.CPUSeconds-gw0.CPUSeconds)*1e6/rtt, "gateway-µs/beat")
	b.ReportMetric(s.HoldLatency[stats.LatHeartbeat].P50*1e6, "hb-p50-µs")
}
