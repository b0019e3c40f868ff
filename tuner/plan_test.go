package tuner

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlanSeedNumbers(t *testing.T) {
	p, err := Plan(PlanOptions{Root: "testdata/fresh", Conns: 1000000, ServerPorts: portList(9000, 20), ServerIPs: 1, SourceIPs: 1, ClientHosts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p.RangeFrom != "live" || p.RangeLow != 32768 || p.PerPair != 50000 || p.Fits || p.UnderHalf {
		t.Errorf("range %s %d-%d, per pair %d, fits %v under half %v", p.RangeFrom, p.RangeLow, p.RangeHigh, p.PerPair, p.Fits, p.UnderHalf)
	}
	if p.SourceIPsHere != 4 || p.SourceIPsWidest != 2 || p.SourceIPsUsed != 2 {
		t.Errorf("source IPs here %d, widest %d, used %d; want 4, 2, 2", p.SourceIPsHere, p.SourceIPsWidest, p.SourceIPsUsed)
	}
	if !p.SameHost || len(p.Hosts) != 1 || p.Hosts[0].KernelBytes != 2*1000000*4096 {
		t.Errorf("hosts %+v", p.Hosts)
	}
	if p.NofileNeeded != 1100520 || p.NofileHard != 524288 || p.Hosts[0].Processes != 3 {
		t.Errorf("nofile need %d hard %d processes %d", p.NofileNeeded, p.NofileHard, p.Hosts[0].Processes)
	}
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"imtool tune apply --role both --conns 1000000 --ports 9000-9019 --source-ips 2 --server-ips 1",
		"imtool swarm --target 127.0.0.1 --ports 9000-9019 --conns 1000000 --source-ips 127.0.0.2-127.0.0.3 --procs auto",
		"answer: 1,000,000 connections to 20 server ports on 1 server IP, with ephemeral ports 32768-60999 (28,232 ports), need 2 source IPs on this host",
		"and 4 to keep every (source IP, server ip:port) pair under half the range",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}

// The user's question — how many client machines for a million
// connections to one server port? — answered for the range given
// (60,001 ports), not for a range of imtool's choosing.
func TestPlanHeadlineForTheGivenRange(t *testing.T) {
	p, err := Plan(PlanOptions{Root: "testdata/fresh", Conns: 1000000, ServerPorts: portList(9000, 1), ServerIPs: 1, SourceIPs: 1,
		ClientHosts: 1, PortRange: "5000-65000", Target: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.NeededToFit != 17 || p.NeededUnderHalf != 34 {
		t.Errorf("needed %d to fit, %d under half; want 17 and 34", p.NeededToFit, p.NeededUnderHalf)
	}
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "answer: 1,000,000 connections to 1 server port on 1 server IP, with ephemeral ports 5000-65000 (60,001 ports), need 17 client hosts (1 source IP each) to fit, and 34 to keep"
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("the plan does not start with its answer %q:\n%s", want, b.String())
	}
	if strings.Contains(b.String(), "1024-65535 and") {
		t.Errorf("the answer is computed for another range:\n%s", b.String())
	}
}

func TestPlanRemoteClients(t *testing.T) {
	p, err := Plan(PlanOptions{Root: "testdata/fresh", Conns: 1000000, ServerPorts: portList(9000, 1), ServerIPs: 1, SourceIPs: 1,
		ClientHosts: 4, PortRange: "1024-65535", Target: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if p.SameHost || len(p.Hosts) != 5 || p.PerClientHost != 250000 || p.SourceIPsUsed != 8 {
		t.Fatalf("same host %v, %d hosts, %d per client host, %d source IPs", p.SameHost, len(p.Hosts), p.PerClientHost, p.SourceIPsUsed)
	}
	if got := p.Hosts[1].Commands[1]; got != "imtool swarm --target 10.0.0.1 --ports 9000 --conns 250000 --source-ips ADDR1-ADDR8 --procs auto" {
		t.Errorf("swarm command %q", got)
	}
	if _, err := Plan(PlanOptions{Conns: 10, ServerPorts: portList(9000, 1), ServerIPs: 1, SourceIPs: 1, ClientHosts: 2, Target: "127.0.0.1"}); err == nil {
		t.Error("loopback with two client hosts should be refused")
	}
}

func TestLoopbackRange(t *testing.T) {
	if got := loopbackRange(39); got != "127.0.0.2-127.0.0.40" {
		t.Errorf("got %s", got)
	}
	if got := loopbackRange(300); got != "127.0.0.2-127.0.1.45" {
		t.Errorf("got %s", got)
	}
}
