package stats

import "strconv"

// Thousands writes n with comma separators: 1000000 → "1,000,000". The
// dashboard, the reports and the plan print counts the same way.
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
