package tuner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func recorded(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "windows", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseDynamicPortRecorded(t *testing.T) {
	for file, want := range map[string]portRange{
		"netsh-ipv4-dynamicport-tcp-default.txt":    {49152, 65535},
		"netsh-ipv4-dynamicport-tcp-default-fr.txt": {49152, 65535}, // localized labels
		"netsh-ipv4-dynamicport-tcp-widened.txt":    {1024, 65534},
	} {
		got, err := parseDynamicPort(recorded(t, file))
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", file, got, err, want)
		}
	}
	if _, err := parseDynamicPort("The requested operation requires elevation.\r\n"); err == nil {
		t.Error("an error message parsed as a range")
	}
}

func TestParseExcludedPortsRecorded(t *testing.T) {
	got := parseExcludedPorts(recorded(t, "netsh-ipv4-excludedportrange-tcp-hyperv.txt"))
	want := []portRange{{5357, 5357}, {9800, 9800}, {49671, 49770}, {49871, 49970}, {50000, 50059}, {61117, 61216}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if n := usable(portRange{49152, 65535}, got); n != 16384-100-100-60-100 {
		t.Errorf("usable = %d", n)
	}
}

// fakeWin is a Windows host in memory: netsh answers from recorded outputs
// and the registry is a map.
type fakeWin struct {
	ranges   map[string]portRange // ipv4, ipv6
	excluded string
	reg      map[string]uint32
	denied   bool // netsh set fails, as without elevation
}

func (f *fakeWin) netsh(args ...string) (string, error) {
	cmd := strings.Join(args, " ")
	ip := args[1]
	switch {
	case strings.HasPrefix(cmd, "int "+ip+" show dynamicport tcp"):
		r := f.ranges[ip]
		return fmt.Sprintf("\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\nStart Port      : %d\r\nNumber of Ports : %d\r\n\r\n", r.lo, r.size()), nil
	case strings.HasPrefix(cmd, "interface "+ip+" show excludedportrange"):
		return f.excluded, nil
	case strings.HasPrefix(cmd, "int "+ip+" set dynamicport tcp"):
		if f.denied {
			return "The requested operation requires elevation (Run as administrator).\r\n", fmt.Errorf("exit status 1")
		}
		var start, num int
		fmt.Sscanf(args[5]+" "+args[6], "start=%d num=%d", &start, &num)
		f.ranges[ip] = portRange{start, start + num - 1}
		return "Ok.\r\n", nil
	}
	return "", fmt.Errorf("unexpected netsh %s", cmd)
}

func (f *fakeWin) regGet(name string) (uint32, bool, error) { v, ok := f.reg[name]; return v, ok, nil }
func (f *fakeWin) regSet(name string, v uint32) error       { f.reg[name] = v; return nil }
func (f *fakeWin) regDelete(name string) error              { delete(f.reg, name); return nil }

func newFakeWindows(t *testing.T) (*windows, *fakeWin) {
	def, err := parseDynamicPort(recorded(t, "netsh-ipv4-dynamicport-tcp-default.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeWin{ranges: map[string]portRange{"ipv4": def, "ipv6": def},
		excluded: recorded(t, "netsh-ipv4-excludedportrange-tcp-hyperv.txt"), reg: map[string]uint32{"MaxUserPort": 5000}}
	return &windows{host: f, fs: rootFS{dir: t.TempDir()}}, f
}

func winTarget() Target {
	return Target{Role: RoleClient, Conns: 1000000, Ports: portList(9000, 20), SourceIPs: 2, ServerIPs: 1, Headroom: DefaultHeadroom}
}

func TestWindowsCheckApplyRevert(t *testing.T) {
	w, f := newFakeWindows(t)
	o := Options{Target: winTarget(), Yes: true}
	rep, err := check(w, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExitCode() != 2 || rep.Rows[0].Status != StatusLow {
		t.Fatalf("default range should be too small for 25000 per pair: %+v", rep.Rows[0])
	}
	for _, r := range rep.Rows[2:] {
		if r.Status != StatusOK || !strings.Contains(r.Reason, "--legacy-registry") {
			t.Errorf("legacy %s without --legacy-registry: %s %q", r.Name, r.Status, r.Reason)
		}
	}
	res, err := apply(w, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode() != 0 {
		t.Fatalf("after apply: %v %+v", res.Failed, notOK(res.After))
	}
	if got := f.ranges["ipv4"]; usable(got, parseExcludedPorts(f.excluded)) < 50000 || got.hi != 65535 || got.lo < 1025 {
		t.Errorf("ipv4 range after apply %v", got)
	}
	if f.reg["MaxUserPort"] != 5000 || len(f.reg) != 1 {
		t.Errorf("apply wrote legacy values without --legacy-registry: %v", f.reg)
	}
	rv, err := revert(w, false)
	if err != nil || rv.ExitCode() != 0 {
		t.Fatal(err, rv.Failed)
	}
	if f.ranges["ipv4"] != (portRange{49152, 65535}) || f.ranges["ipv6"] != (portRange{49152, 65535}) {
		t.Errorf("revert left %v", f.ranges)
	}
}

// TestWindowsRevertKeepsChangedRange: a dynamic port range an operator set
// with netsh after apply is kept by revert (exit 2), and --force restores it.
func TestWindowsRevertKeepsChangedRange(t *testing.T) {
	w, f := newFakeWindows(t)
	if _, err := apply(w, Options{Target: winTarget(), Yes: true}); err != nil {
		t.Fatal(err)
	}
	mine := portRange{20000, 60000}
	f.ranges["ipv4"] = mine
	rv, err := revert(w, false)
	if err != nil || rv.ExitCode() != 2 || len(rv.Kept) != 1 || !strings.Contains(rv.Kept[0], "ipv4 = 20000 40001: changed since apply") {
		t.Fatalf("revert: %v, exit %d, kept %q, failed %v", err, rv.ExitCode(), rv.Kept, rv.Failed)
	}
	if f.ranges["ipv4"] != mine || f.ranges["ipv6"] != (portRange{49152, 65535}) {
		t.Errorf("revert left %v: want the operator's ipv4 range kept and ipv6 restored", f.ranges)
	}
	if rv, err = revert(w, true); err != nil || rv.ExitCode() != 0 {
		t.Fatalf("revert --force: %v, exit %d, failed %v", err, rv.ExitCode(), rv.Failed)
	}
	if f.ranges["ipv4"] != (portRange{49152, 65535}) {
		t.Errorf("revert --force left ipv4 %v", f.ranges["ipv4"])
	}
}

func TestWindowsLegacyRegistry(t *testing.T) {
	w, f := newFakeWindows(t)
	o := Options{Target: winTarget(), Yes: true, LegacyRegistry: true}
	if _, err := apply(w, o); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{"MaxUserPort": 65534, "TcpNumConnections": 0xfffffe, "MaxFreeTcbs": 1100000, "MaxHashTableSize": 65536}
	if fmt.Sprint(f.reg) != fmt.Sprint(want) {
		t.Errorf("registry after apply %v, want %v", f.reg, want)
	}
	if _, err := apply(w, o); err != nil { // a second apply keeps the first snapshot
		t.Fatal(err)
	}
	if _, err := revert(w, false); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(f.reg) != fmt.Sprint(map[string]uint32{"MaxUserPort": 5000}) {
		t.Errorf("revert left %v: absent values must be deleted, present ones restored", f.reg)
	}
}

func TestWindowsNetshDenied(t *testing.T) {
	w, f := newFakeWindows(t)
	f.denied = true
	res, err := apply(w, Options{Target: winTarget(), Yes: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 2 || !strings.Contains(res.Failed[0].Error(), "run as Administrator") {
		t.Errorf("failures %v", res.Failed)
	}
}

func TestWidenDynamic(t *testing.T) {
	ex := []portRange{{50000, 50059}}
	for _, tc := range []struct {
		need int64
		want portRange
	}{
		{10000, portRange{49152, 65535}}, // never shrinks
		{20000, portRange{45476, 65535}}, // 20060 ports, 60 excluded
		{100000, portRange{1025, 65535}}, // as wide as netsh allows
	} {
		if got := widenDynamic(portRange{49152, 65535}, tc.need, ex); got != tc.want {
			t.Errorf("need %d: %v, want %v", tc.need, got, tc.want)
		}
	}
}
