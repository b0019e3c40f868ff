package tuner

import (
	"fmt"
	"testing"
)

func TestWiden(t *testing.T) {
	for _, tc := range []struct {
		cur  portRange
		need int64
		want portRange
	}{
		{portRange{32768, 60999}, 20000, portRange{32768, 60999}}, // enough: never lowered
		{portRange{32768, 60999}, 50000, portRange{11000, 60999}}, // odd/even ends already
		{portRange{32768, 60999}, 50001, portRange{10998, 60999}}, // same parity: one more
		{portRange{32768, 60999}, 70000, portRange{1024, 65535}},  // capped, still short
		{portRange{40000, 40999}, 64000, portRange{1024, 65023}},  // raises the top when it must
	} {
		if got := tc.cur.widen(tc.need); got != tc.want {
			t.Errorf("%v widen %d = %v, want %v", tc.cur, tc.need, got, tc.want)
		}
	}
}

func TestPortList(t *testing.T) {
	got, err := parsePortList("9000-9002, 80,9001\n")
	if err != nil || fmt.Sprint(got) != "[80 9000 9001 9002]" {
		t.Errorf("got %v %v", got, err)
	}
	if got, _ := parsePortList("\n"); len(got) != 0 {
		t.Errorf("empty list parsed as %v", got)
	}
	if _, err := parsePortList("9000-80"); err == nil {
		t.Error("a backwards range parsed")
	}
}

func TestSysctlPrecedence(t *testing.T) {
	got := persistedSysctls(rootFS{dir: "testdata/override"})
	if v := got["net.core.somaxconn"]; v.value != "1024" || v.file != "/etc/sysctl.conf" {
		t.Errorf("somaxconn from %+v, want 1024 from /etc/sysctl.conf (read last)", v)
	}
	if v := got["kernel.pid_max"]; v.file != "/usr/lib/sysctl.d/50-pid-max.conf" {
		t.Errorf("pid_max from %+v", v)
	}
}
