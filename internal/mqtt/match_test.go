package mqtt

import "testing"

// TestMatch checks the examples of §4.7.1 and §4.7.2.
func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		filter, topic string
		want          bool
	}{
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
		{"sport/#", "sport", true},
		{"#", "sport/tennis", true},
		{"sport/tennis/#", "sport/tennis", true},
		{"sport/tennis/+", "sport/tennis/player1", true},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"sport/+", "sport", false},
		{"sport/+", "sport/", true},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		{"#", "$SYS/broker/clients/connected", false},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"$SYS/#", "$SYS/broker/clients/connected", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
		{"devices/12/in", "devices/12/in", true},
		{"devices/12/in", "devices/1/in", false},
		{"devices/1", "devices/12", false},
		{"a/b", "a", false},
		{"a", "a/b", false},
	} {
		if got := Match([]byte(tt.filter), []byte(tt.topic)); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

// TestClassesHaveFixes: every class an engine counts by index has a fix,
// and every fix belongs to a listed class.
func TestClassesHaveFixes(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Classes() {
		if Fix(c) == "" || seen[c] {
			t.Errorf("class %q: no fix, or listed twice", c)
		}
		seen[c] = true
	}
	if len(seen) != len(fixes) {
		t.Errorf("%d classes listed, %d have fixes", len(seen), len(fixes))
	}
}
