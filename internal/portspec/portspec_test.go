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
		{spec: "0", base: 9000, err: "≥ 1"},
		{spec: "abc", base: 9000, err: "whole number"},
		{spec: "10", base: 65530, err: "past 65535"},
		{spec: "9002-9000", err: "backwards"},
		{spec: "9000,70000", err: "not a port"},
		{spec: "1-65535", err: "at most"},
		{spec: "39043", base: 1, err: "--ports 39043-39043"},
	} {
		got, err := Parse(tc.spec, tc.base)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q): err %v, want containing %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q, %d) = %v, %v; want %v", tc.spec, tc.base, got, err, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	if s := String([]uint16{9000, 9001, 9002, 9005, 9100, 9101}); s != "9000-9002,9005,9100-9101" {
		t.Fatalf("got %q", s)
	}
}
