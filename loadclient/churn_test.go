package loadclient

import (
	"strings"
	"testing"
	"time"
)

func TestParseChurn(t *testing.T) {
	for _, tc := range []struct {
		spec string
		rate float64 // per second of 100,000 connections
	}{
		{"", 0},
		{"2%/min", 2000.0 / 60},
		{" 50/s ", 50},
		{"50/sec", 50},
		{"120/min", 2},
		{"3600/h", 1},
		{"0.5%/s", 500},
		{"0/s", 0},
	} {
		ch, err := ParseChurn(tc.spec, 100000)
		if err != nil {
			t.Fatalf("ParseChurn(%q): %v", tc.spec, err)
		}
		if d := ch.Rate - tc.rate; d > 1e-9 || d < -1e-9 {
			t.Errorf("ParseChurn(%q).Rate = %g, want %g", tc.spec, ch.Rate, tc.rate)
		}
	}
	for _, bad := range []string{"2%", "50", "50/day", "x/s", "-1/s", "NaN/s", "200%/s", "1e12/s", "%/min", "2%%/min"} {
		if _, err := ParseChurn(bad, 1000); err == nil || !strings.Contains(err.Error(), "--churn") {
			t.Errorf("ParseChurn(%q) = %v, want an error naming --churn", bad, err)
		}
	}
	if err := (Churn{Rate: 1, Burst: -time.Second}).Check(); err == nil {
		t.Error("a negative burst period passed Check")
	}
}

// TestChurnDue: evenly, closes accrue with time; in bursts, a period's
// share comes at once at its end and nothing between.
func TestChurnDue(t *testing.T) {
	even := Churn{Rate: 10}
	for _, tc := range []struct {
		at   time.Duration
		want int64
	}{{0, 0}, {99 * time.Millisecond, 0}, {100 * time.Millisecond, 1}, {time.Second, 10}, {90 * time.Second, 900}} {
		if got := even.due(tc.at, even.Rate); got != tc.want {
			t.Errorf("evenly at %v: %d due, want %d", tc.at, got, tc.want)
		}
	}
	burst := Churn{Rate: 10, Burst: 5 * time.Second}
	for _, tc := range []struct {
		at   time.Duration
		want int64
	}{{4999 * time.Millisecond, 0}, {5 * time.Second, 50}, {9 * time.Second, 50}, {10 * time.Second, 100}} {
		if got := burst.due(tc.at, burst.Rate); got != tc.want {
			t.Errorf("bursts at %v: %d due, want %d", tc.at, got, tc.want)
		}
	}
}
