package stats

import (
	"testing"
	"time"
)

// The shared formatters keep three significant digits and choose the unit
// after rounding, so no figure prints as 1e+03 or 1000µs.
func TestFormatters(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Latency(0), "0"},
		{Latency(95), "95ns"},
		{Latency(850 * time.Microsecond), "850µs"},
		{Latency(999_960), "1ms"},
		{Latency(1_240_000), "1.24ms"},
		{Latency(12_520_000), "12.5ms"},
		{Latency(1_200_000_000), "1.2s"},
		{Latency(1500 * time.Second), "1500s"},
		{Seconds(0.000086), "86µs"},
		{Seconds(-0.000086), "-86µs"},
		{Bytes(512), "512 B"},
		{Bytes(1023.9 * 1024), "1024 KiB"},
		{Bytes(3.2 * 1024), "3.2 KiB"},
		{Bytes(49.3 * 1024 * 1024), "49.3 MiB"},
		{Bytes(8 << 30), "8 GiB"},
		{Short(950), "950"},
		{Short(999.7), "1.0k"},
		{Short(48_210), "48.2k"},
		{Short(99_990), "100k"},
		{Short(1_050_000), "1.05M"},
		{Thousands(-1234567), "-1,234,567"},
		{Clock(75), "1:15"},
		{Clock(3725), "1:02:05"},
		{Percent(1, 3), "33.3%"},
		{Percent(1, 0), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
