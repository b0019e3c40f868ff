package stats

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The formatters below are the one way imtool writes numbers for people:
// the dashboard, the progress line, the reports and the plan all use them,
// so a figure reads the same wherever it appears.

// Thousands writes n with comma separators: 1000000 → "1,000,000".
func Thousands(n int64) string {
	if n < 0 {
		return "-" + Thousands(-n)
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Short writes a count in at most about five characters, for tight
// columns: 950, 48.2k, 512k, 1.05M, 120M.
func Short(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 999.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a < 99.95e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a < 999.5e3:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case a < 99.995e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	default:
		return strconv.FormatFloat(v/1e6, 'f', 0, 64) + "M"
	}
}

// sig3 writes v, which is at least 1 and below 1000 after rounding, with
// three significant digits and no trailing zeros: 1.5, 12.3, 850.
func sig3(v float64) string {
	decimals := 2 - int(math.Floor(math.Log10(math.Abs(v))))
	decimals = min(max(decimals, 0), 2)
	out := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(out, ".") {
		out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	}
	return out
}

// scaled writes v in the largest unit (each factor times the one before)
// that keeps it at or above 1, with three significant digits; the unit is
// chosen after rounding, so 999.96 µs is "1 ms", never "1e+03 µs".
func scaled(v float64, factor float64, units []string, sep string) string {
	i := 0
	a := math.Abs(v)
	for i < len(units)-1 && roundSig3(a) >= factor {
		a /= factor
		v /= factor
		i++
	}
	if i == 0 && a == math.Trunc(a) {
		return strconv.FormatFloat(v, 'f', 0, 64) + sep + units[0]
	}
	return sig3(roundSig3(v)) + sep + units[i]
}

func roundSig3(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// Bytes writes a byte count in binary (IEC) units: 512 B, 3.2 KiB, 49.3 MiB.
func Bytes(b float64) string {
	if math.IsNaN(b) || math.IsInf(b, 0) {
		return "–"
	}
	if math.Abs(b) < 1024 {
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for i < len(units)-1 && math.Abs(b) >= 1024 {
		b /= 1024
		i++
	}
	if roundSig3(math.Abs(b)) >= 1000 {
		return strconv.FormatFloat(b, 'f', 0, 64) + " " + units[i]
	}
	return sig3(roundSig3(b)) + " " + units[i]
}

// Latency writes a duration with three significant digits in the unit
// that suits it: 95ns, 850µs, 1.24ms, 12.5ms, 1.2s.
func Latency(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return scaled(float64(d), 1000, []string{"ns", "µs", "ms", "s"}, "")
}

// Seconds is Latency for a figure in seconds.
func Seconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return "–"
	}
	return Latency(time.Duration(math.Round(s * 1e9)))
}

// Clock writes seconds as m:ss, or h:mm:ss from an hour: an elapsed or
// remaining time.
func Clock(sec float64) string {
	t := int64(max(sec, 0))
	if t >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", t/3600, t/60%60, t%60)
	}
	return fmt.Sprintf("%d:%02d", t/60, t%60)
}

// Percent writes part/whole as a percentage with one decimal, "-" when
// there is no whole.
func Percent(part, whole float64) string {
	if whole <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*part/whole, 'f', 1, 64) + "%"
}
