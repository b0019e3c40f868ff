package loadclient

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// hostEnv is this kind of host: port range 32768-60999 (R = 28232, R/2 =
// 14116), RLIMIT_NOFILE 20000.
var hostEnv = Env{PortRange: [2]int{32768, 60999}, NofileHard: 20000, CPUs: 2}

func mustIPs(t *testing.T, s string) []netip.Addr {
	t.Helper()
	a, err := ParseSourceIPs(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPlanCapacityAndSpread(t *testing.T) {
	tests := []struct {
		name         string
		o            Options
		env          Env
		dests        int
		sources      string // FormatSourceIPs of the plan's sources
		auto         bool
		capacity     int64
		pairs        int
		perPair      int
		procs        int
		warn, noteRe string
	}{
		{name: "defaults: 10k over 20 ports, kernel source", o: Options{}, env: hostEnv,
			dests: 20, capacity: 20 * 28232, pairs: 20, perPair: 500, procs: 1},
		{name: "19k in one process", o: Options{Conns: 19000, Procs: 1}, env: hostEnv,
			dests: 20, capacity: 20 * 28232, pairs: 20, perPair: 950, procs: 1},
		{name: "one port, 19k: loopback picks 2 sources", o: Options{Conns: 19000, Ports: []uint16{9000}, Procs: 1}, env: hostEnv,
			dests: 1, sources: "127.0.0.2-127.0.0.3", auto: true, capacity: 2 * 28232, pairs: 2, perPair: 9500, procs: 1,
			noteRe: "dialing from 2 source IPs 127.0.0.2-127.0.0.3", warn: "19,000 connections per destination port is past half the port range (14,116)"},
		{name: "a million on 20 loopback ports: 4 sources", o: Options{Conns: 1000000, Procs: 0}, env: Env{PortRange: [2]int{32768, 60999}, NofileHard: 1 << 21},
			dests: 20, sources: "127.0.0.2-127.0.0.5", auto: true, capacity: 80 * 28232, pairs: 80, perPair: 12500, procs: 1,
			warn: "50,000 connections per destination port is past half the port range"},
		{name: "given sources are used round-robin", o: Options{Conns: 1000, SourceIPs: mustIPs(t, "127.0.0.10-127.0.0.14")}, env: hostEnv,
			dests: 20, sources: "127.0.0.10-127.0.0.14", capacity: 100 * 28232, pairs: 100, perPair: 10, procs: 1},
		{name: "two targets with their own ports", o: Options{Targets: []string{"10.0.0.1:9000-9009", "10.0.0.2:7000,7001"}, Conns: 100}, env: hostEnv,
			dests: 12, capacity: 12 * 28232, pairs: 12, perPair: 9, procs: 1},
		{name: "slow: non-loopback past R/2", o: Options{Targets: []string{"10.0.0.1"}, Conns: 451712}, env: Env{PortRange: [2]int{32768, 60999}, NofileHard: 1 << 21},
			dests: 20, capacity: 20 * 28232, pairs: 20, perPair: 22586, procs: 1,
			warn: "needs ≥ 32 source×port pairs to stay under half the port range; you have 20: add `--source-ips` with ≥ 2 addresses of this host, or widen the range with `imtool tune apply --role client`"},
		{name: "slow: loopback with too few given sources", o: Options{Conns: 451712, SourceIPs: mustIPs(t, "127.0.0.2")}, env: Env{PortRange: [2]int{32768, 60999}, NofileHard: 1 << 21},
			dests: 20, sources: "127.0.0.2", capacity: 20 * 28232, pairs: 20, perPair: 22586, procs: 1,
			warn: "needs ≥ 32 source×port pairs to stay under half the port range; you have 20: add `--source-ips 127.0.0.2-127.0.0.3`, or widen the range with `imtool tune apply --role client`"},
		{name: "procs auto: 60k needs 4", o: Options{Conns: 60000}, env: hostEnv,
			dests: 20, capacity: 20 * 28232, pairs: 20, perPair: 3000, procs: 4, noteRe: "--procs auto: 4 processes of about 15,000"},
		{name: "procs auto: 19k needs 2 (10% headroom)", o: Options{Conns: 19000}, env: hostEnv,
			dests: 20, capacity: 20 * 28232, pairs: 20, perPair: 950, procs: 2},
		{name: "explicit procs", o: Options{Conns: 100, Procs: 3}, env: hostEnv,
			dests: 20, capacity: 20 * 28232, pairs: 20, perPair: 5, procs: 3},
		{name: "unknown port range: no capacity check", o: Options{Conns: 100}, env: Env{},
			dests: 20, pairs: 20, perPair: 5, procs: 1, noteRe: "port range unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(tt.o, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Dests) != tt.dests || FormatSourceIPs(p.Sources) != tt.sources || p.AutoSources != tt.auto ||
				p.Capacity != tt.capacity || p.Pairs != tt.pairs || p.PerPair != tt.perPair || p.Procs != tt.procs {
				t.Fatalf("dests %d sources %q auto %v capacity %d pairs %d perPair %d procs %d\nwant %d %q %v %d %d %d %d",
					len(p.Dests), FormatSourceIPs(p.Sources), p.AutoSources, p.Capacity, p.Pairs, p.PerPair, p.Procs,
					tt.dests, tt.sources, tt.auto, tt.capacity, tt.pairs, tt.perPair, tt.procs)
			}
			warns := strings.Join(p.Warnings, "\n")
			if (tt.warn == "") != (warns == "") || !strings.Contains(warns, tt.warn) {
				t.Fatalf("warnings %q, want %q", warns, tt.warn)
			}
			if tt.noteRe != "" && !strings.Contains(strings.Join(p.Notes, "\n"), tt.noteRe) {
				t.Fatalf("notes %q, want %q", p.Notes, tt.noteRe)
			}
			// Shards cover every connection once, in order.
			next := 0
			for i, s := range p.Shards {
				if s.Index != i || s.First != next || s.Count < 1 {
					t.Fatalf("shard %d: %+v (next %d)", i, s, next)
				}
				next += s.Count
			}
			if next != p.Conns {
				t.Fatalf("shards cover %d of %d", next, p.Conns)
			}
			checkSpread(t, p)
		})
	}
}

// checkSpread counts connections per (source, destination) pair: every pair
// gets Conns/pairs, rounded up at most by one, and none more than PerPair.
func checkSpread(t *testing.T, p *Plan) {
	t.Helper()
	if p.Conns > 200000 {
		return
	}
	count := map[string]int{}
	for g := 0; g < p.Conns; g++ {
		count[fmt.Sprint(p.Source(g), "→", p.Dest(g))]++
	}
	lo, hi := p.Conns, 0
	for _, n := range count {
		lo, hi = min(lo, n), max(hi, n)
	}
	if want := min(p.Pairs, p.Conns); len(count) != want {
		t.Fatalf("%d pairs used, want %d", len(count), want)
	}
	if hi-lo > 1 || hi != p.PerPair {
		t.Fatalf("pair loads %d..%d, want even and at most %d", lo, hi, p.PerPair)
	}
}

func TestPlanRefusals(t *testing.T) {
	big := Env{PortRange: [2]int{32768, 60999}, NofileHard: 1 << 21}
	tests := []struct {
		name string
		o    Options
		env  Env
		want string
	}{
		{"past capacity, non-loopback", Options{Targets: []string{"10.0.0.1:9000"}, Conns: 30000}, big,
			"cannot open 30,000 connections: capacity is 28,232 (1 source IPs × 1 destinations × 28232 local ports); needs ≥ 3 source×port pairs to stay under half the port range; you have 1: add `--source-ips` with ≥ 3 addresses of this host, or widen the range with `imtool tune apply --role client`"},
		{"past capacity, loopback with given sources", Options{Conns: 60000, Ports: []uint16{9000}, SourceIPs: mustIPs(t, "127.0.0.2,127.0.0.3")}, big,
			"needs ≥ 5 source×port pairs to stay under half the port range; you have 2: add `--source-ips 127.0.0.2-127.0.0.6`"},
		{"fd limit in one process", Options{Conns: 19990, Procs: 1}, hostEnv,
			"19,990 connections in 1 process(es) need RLIMIT_NOFILE ≥ 20,490 each; a process here may open 20,000: use --procs auto (2 or more processes), or raise the limit with `imtool tune apply --role client`"},
		{"mixed IP versions", Options{Targets: []string{"[::1]:9000"}, SourceIPs: mustIPs(t, "127.0.0.2")}, hostEnv,
			"not the same IP version"},
		{"bad proto", Options{Proto: "http"}, hostEnv, `--proto "http": give imtool, raw, ws, ws+imtool or mqtt`},
		{"bad close", Options{Close: "slam"}, hostEnv, `--close "slam": give fin or rst`},
		{"bad target", Options{Targets: []string{"127.0.0.1:0-5"}}, hostEnv, `--target "127.0.0.1:0-5"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(tt.o, tt.env)
			var pe *PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v, want a *PlanError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n  %s\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestAutoProcs(t *testing.T) {
	for _, tt := range []struct {
		conns  int
		nofile int64
		want   int
	}{
		{10000, 20000, 1}, {17727, 20000, 1}, {17728, 20000, 2}, {60000, 20000, 4}, {1000000, 20000, 57},
		{1000000, 1 << 21, 1}, {1000, 0, 1}, {1000, 400, 1},
	} {
		if got := AutoProcs(tt.conns, tt.nofile); got != tt.want {
			t.Errorf("AutoProcs(%d, %d) = %d, want %d", tt.conns, tt.nofile, got, tt.want)
		}
	}
}

func TestParseSourceIPs(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"127.0.0.2-127.0.0.5", "127.0.0.2-127.0.0.5", ""},
		{"127.0.1.0/30", "127.0.1.1-127.0.1.2", ""},
		{"10.0.0.1/32", "10.0.0.1", ""},
		{"10.0.0.1, 10.0.0.3,10.0.0.2", "10.0.0.1,10.0.0.3,10.0.0.2", ""},
		{"127.0.0.9-127.0.0.2", "", "runs backwards"},
		{"banana", "", "not an address"},
		{"", "", ""},
	} {
		got, err := ParseSourceIPs(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || FormatSourceIPs(got) != tt.want {
			t.Errorf("%q: %q %v, want %q", tt.in, FormatSourceIPs(got), err, tt.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	def := []uint16{9000, 9001}
	for _, tt := range []struct{ in, addr, ports string }{
		{"127.0.0.1", "127.0.0.1", "[9000 9001]"},
		{"127.0.0.1:9005", "127.0.0.1", "[9005]"},
		{"10.1.2.3:7000-7002", "10.1.2.3", "[7000 7001 7002]"},
		{"10.1.2.3:7000,7005", "10.1.2.3", "[7000 7005]"},
		{"[::1]:9000", "::1", "[9000]"},
		{"::1", "::1", "[9000 9001]"},
		{"gw1:9000", "invalid IP", "[9000]"},
	} {
		tg, err := ParseTarget(tt.in, def, 9000)
		if err != nil || tg.Addr.String() != tt.addr || fmt.Sprint(tg.Ports) != tt.ports {
			t.Errorf("%q: %v %v %v, want %s %s", tt.in, tg.Addr, tg.Ports, err, tt.addr, tt.ports)
		}
	}
}

func ExamplePlan_Describe() {
	p, _ := NewPlan(Options{Conns: 19000, Ports: []uint16{9000}, Procs: 1}, Env{PortRange: [2]int{32768, 60999}, NofileHard: 20000})
	fmt.Println(p.Describe())
	// Output:
	// plan: 19,000 connections to 1 destinations from 2 source IPs (127.0.0.2-127.0.0.3); 2 pairs, ≤ 9,500 per pair (port range 32768-60999, R/2 = 14,116; capacity 56,464)
	// note: loopback target: dialing from 2 source IPs 127.0.0.2-127.0.0.3 so no (source, port) pair holds more than 9,500 connections (half the port range is 14,116)
	// warning: 19,000 connections per destination port is past half the port range (14,116): the extra source IPs keep capacity, but connects to one ip:port still slow down several-fold on Linux 6.x (measured here: 19,000 to 1 port ≈ 5k/s even from 19 sources, to 20 ports ≈ 36k/s); more target ports or IPs keep the rate
}
