package reports

import (
	"fmt"
	"math"
	"strconv"

	"github.com/imtool/imtool/internal/stats"
)

// fmtFloat writes x with three significant digits, integers of four digits
// and more with separators.
func fmtFloat(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "–"
	case math.Abs(x) >= 1000:
		return stats.Thousands(int64(math.Round(x)))
	case x == math.Trunc(x):
		return strconv.FormatInt(int64(x), 10)
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

// fmtBytes writes a byte count in binary units: 512 B, 3.2 KiB, 1.5 GiB.
func fmtBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(b) >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.3g %s", b, units[i])
}

// fmtSeconds writes a latency given in seconds with a unit that keeps
// three significant digits: 850µs, 12.3ms, 1.25s.
func fmtSeconds(s float64) string {
	switch a := math.Abs(s); {
	case a == 0:
		return "0"
	case a < 1e-3:
		return strconv.FormatFloat(s*1e6, 'g', 3, 64) + "µs"
	case a < 1:
		return strconv.FormatFloat(s*1e3, 'g', 3, 64) + "ms"
	}
	return strconv.FormatFloat(s, 'g', 3, 64) + "s"
}

// fmtDuration writes a run length in seconds: 4.5 s, 3m20s.
func fmtDuration(s float64) string {
	if s < 120 {
		return fmtFloat(s) + " s"
	}
	return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
}
