package main

import "testing"

func TestPlanExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"plan", "--root", fixture("fresh"), "--conns", "1000000", "--server-ports", "20"}, 0},
		{[]string{"plan", "--root", fixture("fresh"), "--server-ports", "9000-9019", "--client-hosts", "3", "--target", "10.0.0.1", "--json"}, 0},
		{[]string{"plan", "--server-ports", "0"}, 2},
		{[]string{"plan", "--port-range", "60000-1024"}, 2},
		{[]string{"plan", "--client-hosts", "2"}, 2}, // loopback target with two client hosts
	} {
		if got := run(append([]string{"imtool"}, tc.args...)); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.args, got, tc.want)
		}
	}
}
