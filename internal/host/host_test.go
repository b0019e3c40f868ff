package host

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// A fixture tree reads as the Linux host it describes; the process's own
// facts (OS, CPUs, Go) are the running process's.
func TestReadFixture(t *testing.T) {
	f := Read(Root("testdata/linux"))
	want := Facts{Hostname: "fixture-host", OS: runtime.GOOS, Arch: runtime.GOARCH, Kernel: "6.1.0-fixture",
		CPUs: runtime.NumCPU(), MemTotal: 8039012 << 10, MemAvailable: 5120000 << 10,
		NofileSoft: 1024, NofileHard: 524288, PortRange: [2]int{32768, 60999}, GoVersion: runtime.Version()}
	if f != want {
		t.Fatalf("Read(testdata/linux)\n got %+v\nwant %+v", f, want)
	}
	if f.Nofile() != 524288 {
		t.Fatalf("Nofile %d, want the hard limit 524288", f.Nofile())
	}
}

// A tree without /proc yields zeros, not the machine's own values: a
// fixture never falls back to the kernel.
func TestReadBareTree(t *testing.T) {
	f := Read(Root("testdata/bare"))
	if f.NofileSoft != 0 || f.NofileHard != 0 || f.PortRange != [2]int{} || f.Kernel != "" || f.MemTotal != 0 || f.Hostname != "" {
		t.Fatalf("Read(bare tree) = %+v, want no host facts", f)
	}
	if _, err := ReadNofile(Root("testdata/bare")); err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Fatalf("ReadNofile(bare tree) error %v, want one naming RLIMIT_NOFILE", err)
	}
	if _, err := ReadPortRange(Root("testdata/bare")); err == nil {
		t.Fatal("ReadPortRange(bare tree): no error")
	}
}

// On this machine the limit read is the one the kernel gives.
func TestReadNofileMachine(t *testing.T) {
	lim, err := ReadNofile(Machine)
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		if err == nil {
			t.Fatal("ReadNofile on a system without RLIMIT_NOFILE: no error")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := ProcessNofile()
	if err != nil {
		t.Fatal(err)
	}
	if lim != k {
		t.Fatalf("ReadNofile(/) = %+v, ProcessNofile = %+v", lim, k)
	}
}

func TestParseProcLimits(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Rlimit
		ok   bool
	}{
		{"Max open files            1024                 524288               files\n", Rlimit{1024, 524288}, true},
		{"Max open files            unlimited            unlimited            files\n", Rlimit{-1, -1}, true},
		{"Max open files            banana               1                    files\n", Rlimit{}, false},
		{"Max processes             1                    1                    processes\n", Rlimit{}, false},
		{"", Rlimit{}, false},
	} {
		got, err := ParseProcLimits(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseProcLimits(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want [2]int
		err  string
	}{
		{"32768\t60999\n", [2]int{32768, 60999}, ""},
		{"1024-65535", [2]int{1024, 65535}, ""},
		{"40000 40000", [2]int{40000, 40000}, ""},
		{"60999 32768", [2]int{}, "within 1-65535"},
		{"0 100", [2]int{}, "within 1-65535"},
		{"1 70000", [2]int{}, "within 1-65535"},
		{"32768", [2]int{}, "LOW HIGH"},
		{"a b", [2]int{}, "within 1-65535"},
	} {
		got, err := ParsePortRange(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParsePortRange(%q): %v %v, want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The port range of this machine reads as the kernel's file says.
func TestReadPortRangeMachine(t *testing.T) {
	b, err := os.ReadFile(filepath.FromSlash(PortRangeSysctl))
	if err != nil {
		t.Skipf("no %s on this machine", PortRangeSysctl)
	}
	f := strings.Fields(string(b))
	got, err := ReadPortRange(Machine)
	if err != nil || len(f) != 2 || f[0] != strconv.Itoa(got[0]) || f[1] != strconv.Itoa(got[1]) {
		t.Fatalf("ReadPortRange(/) = %v, %v; the kernel says %q", got, err, b)
	}
}

// The capacity formula: a process plans ⌊(limit − reserve − listeners)/h⌋
// connections, and the processes for N connections are ⌈N / that⌉;
// NofileFor is its inverse.
func TestCapacity(t *testing.T) {
	for _, tt := range []struct {
		conns     int
		limit     int64
		listeners int
		h         float64
		per       int64
		procs     int
	}{
		{10000, 20000, 0, 1.1, 17727, 1},
		{17727, 20000, 0, 1.1, 17727, 1},
		{17728, 20000, 0, 1.1, 17727, 2},
		{1000000, 20000, 0, 1.1, 17727, 57},
		{1000000, 20000, 20, 1, 19480, 52},
		{1000, 0, 0, 1.1, 0, 1},   // limit unknown
		{1000, 400, 0, 1.1, 0, 1}, // no room: the caller refuses
		{0, 20000, 0, 1.1, 17727, 1},
	} {
		if per := ConnsPerProcess(tt.limit, tt.listeners, tt.h); per != tt.per {
			t.Errorf("ConnsPerProcess(%d, %d, %.2f) = %d, want %d", tt.limit, tt.listeners, tt.h, per, tt.per)
		}
		if procs := Procs(tt.conns, tt.limit, tt.listeners, tt.h); procs != tt.procs {
			t.Errorf("Procs(%d, %d, %d, %.2f) = %d, want %d", tt.conns, tt.limit, tt.listeners, tt.h, procs, tt.procs)
		}
	}
	// NofileFor(N) is the smallest limit whose ConnsPerProcess holds N.
	for _, n := range []int{1, 1000, 17727, 1000000} {
		for _, p := range []int{0, 20} {
			lim := NofileFor(n, p, 1.1)
			if got := ConnsPerProcess(lim, p, 1.1); got < int64(n) {
				t.Errorf("NofileFor(%d, %d) = %d holds only %d", n, p, lim, got)
			}
			if got := ConnsPerProcess(lim-2, p, 1.1); got >= int64(n) {
				t.Errorf("NofileFor(%d, %d) = %d is not the smallest: %d holds %d", n, p, lim, lim-2, got)
			}
		}
	}
}
