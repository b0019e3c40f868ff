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

// fmtBytes and fmtSeconds are the formatters every part of imtool shares.
var (
	fmtBytes   = stats.Bytes
	fmtSeconds = stats.Seconds
)

// fmtDuration writes a run length in seconds: 4.5 s, 3m20s.
func fmtDuration(s float64) string {
	if s < 120 {
		return fmtFloat(s) + " s"
	}
	return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
}
