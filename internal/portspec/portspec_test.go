package portspec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec string
		base int
		want []uint16
		err  string
	}{
		{spec: "3", base: 9000, want: []uint16{9000, 9001, 9002}},
		{spec: "9000-9002", base: 1, want: []uint16{9000, 9001, 9002}},
		{spec: "9005,9000,9100-9101", base: 1, want: []uint16{9000, 9005, 9100, 9101}},
		{spec: "9000,9000-9001", base: 1, want: []uint16{9000, 9001}},
		{spec: "", err: "empty"},
		{spec: "0", base: 9000, err: "give a count"},
		{spec: "abc", base: 9000, err: "give a count"},
		{spec: "10", base: 65530, err: "past 65535"},
		{spec: "4096", base: 1000, want: nil}, // a count: checked by length below
		{spec: "4097", base: 9000, want: []uint16{4097}},
		{spec: "9000", base: 9000, want: []uint16{9000}},
		{spec: "65535", base: 9000, want: []uint16{65535}},
		{spec: "70000", base: 9000, err: "neither a count of ports (at most 4096) nor a port"},
		{spec: "9002-9000", err: "backwards"},
		{spec: "9000,70000", err: "not a port"},
		{spec: "1-65535", err: "at most"},
	} {
		got, err := Parse(tc.spec, tc.base)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q): err %v, want containing %q", tc.spec, err, tc.err)
			}
			continue
		}
		if tc.want == nil {
			if err != nil || len(got) != 4096 || got[0] != uint16(tc.base) {
				t.Errorf("Parse(%q, %d): %d ports from %v, %v; want a count", tc.spec, tc.base, len(got), got[:1], err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q, %d) = %v, %v; want %v", tc.spec, tc.base, got, err, tc.want)
		}
	}
}

// Errors name the flag the person typed, and its base flag.
func TestParseFlag(t *testing.T) {
	for _, tc := range []struct{ flag, spec, base, want string }{
		{"server-ports", "70000", "base-port", "--server-ports 70000 is neither a count"},
		{"ports", "10", "base-port", "--ports 10 ports from --base-port (65530) go past 65535: lower --base-port"},
		{"ports", "9000-80", "base-port", `--ports "9000-80": range "9000-80" runs backwards`},
	} {
		_, err := ParseFlag(tc.flag, tc.spec, tc.base, 65530)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFlag(%q, %q): %v, want %q", tc.flag, tc.spec, err, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		ports []uint16
		want  string
	}{{[]uint16{443}, "443-443"}, {[]uint16{9000}, "9000"}, {[]uint16{443, 9000}, "443,9000"}} {
		if s := String(tc.ports); s != tc.want {
			t.Errorf("String(%v) = %q, want %q", tc.ports, s, tc.want)
		}
	}
	if s := String([]uint16{9000, 9001, 9002, 9005, 9100, 9101}); s != "9000-9002,9005,9100-9101" {
		t.Fatalf("got %q", s)
	}
}

// FuzzParse: any spec is parsed or refused, never a panic; what parses is
// sorted, distinct, at most MaxPorts ports, and reads back the same from
// String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"20", "9000", "9000-9019", "9000,9005,9100-9102", "70000", "1-65535", "0", ",", "-", "4097"} {
		f.Add(s, 9000)
	}
	f.Fuzz(func(t *testing.T, spec string, base int) {
		ports, err := Parse(spec, base)
		if err != nil {
			return
		}
		if len(ports) == 0 || len(ports) > MaxPorts {
			t.Fatalf("%q: %d ports", spec, len(ports))
		}
		for i := 1; i < len(ports); i++ {
			if ports[i] <= ports[i-1] {
				t.Fatalf("%q: not sorted and distinct: %v", spec, ports)
			}
		}
		if ports[0] == 0 {
			t.Fatalf("%q: port 0", spec)
		}
		again, err := Parse(String(ports), 1)
		if err != nil || !reflect.DeepEqual(again, ports) {
			t.Fatalf("%q → %s → %v, %v", spec, String(ports), again, err)
		}
	})
}
