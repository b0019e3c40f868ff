package tui

import (
	"math"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// styles are the few looks the screen uses, bound to the renderer of the
// terminal it draws on (plain text when that is not a colour terminal).
type styles struct {
	title, head, label, faint, good, warn, bad, bar, barBg, key lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	s := r.NewStyle
	return styles{
		title: s().Bold(true),
		head:  s().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "25", Dark: "75"}),
		label: s().Foreground(lipgloss.AdaptiveColor{Light: "240", Dark: "245"}),
		faint: s().Faint(true),
		good:  s().Foreground(lipgloss.AdaptiveColor{Light: "28", Dark: "78"}),
		warn:  s().Foreground(lipgloss.AdaptiveColor{Light: "130", Dark: "214"}),
		bad:   s().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "160", Dark: "203"}),
		bar:   s().Foreground(lipgloss.AdaptiveColor{Light: "28", Dark: "78"}),
		barBg: s().Foreground(lipgloss.AdaptiveColor{Light: "252", Dark: "238"}),
		key:   s().Bold(true),
	}
}

// width is the number of cells s takes on screen.
func width(s string) int { return ansi.StringWidth(s) }

// fit cuts s to at most w cells, ending a cut line with "…".
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// pad cuts or fills s to exactly w cells.
func pad(s string, w int) string {
	s = fit(s, w)
	return s + strings.Repeat(" ", max(w-width(s), 0))
}

// padLeft right-aligns s in w cells.
func padLeft(s string, w int) string {
	s = fit(s, w)
	return strings.Repeat(" ", max(w-width(s), 0)) + s
}

// spread puts left and right on one line of w cells, right-aligned.
func spread(left, right string, w int) string {
	gap := w - width(left) - width(right)
	if gap < 1 {
		return fit(left, w)
	}
	return left + strings.Repeat(" ", gap) + right
}

var eighths = []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// bar draws frac (0..1) as a bar w cells wide, in eighths of a cell.
func (st styles) progress(frac float64, w int) string {
	if w <= 0 {
		return ""
	}
	frac = min(max(frac, 0), 1)
	n := int(math.Round(frac * float64(w) * 8))
	full, part := n/8, n%8
	s := strings.Repeat("█", full) + eighths[part]
	used := full
	if part > 0 {
		used++
	}
	return st.bar.Render(s) + st.barBg.Render(strings.Repeat("░", w-used))
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last w values, scaled to the largest of them.
func sparkline(vals []float64, w int) string {
	if w <= 0 || len(vals) == 0 {
		return ""
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	top := 0.0
	for _, v := range vals {
		top = max(top, v)
	}
	out := make([]rune, len(vals))
	for i, v := range vals {
		k := 0
		if top > 0 {
			k = int(math.Round(v / top * float64(len(sparks)-1)))
		}
		out[i] = sparks[min(max(k, 0), len(sparks)-1)]
	}
	return string(out)
}

// bigDigits is a three-line seven-segment font for the established count on
// large terminals.
var bigDigits = map[rune][3]string{
	'0': {" _ ", "| |", "|_|"},
	'1': {"   ", "  |", "  |"},
	'2': {" _ ", " _|", "|_ "},
	'3': {" _ ", " _|", " _|"},
	'4': {"   ", "|_|", "  |"},
	'5': {" _ ", "|_ ", " _|"},
	'6': {" _ ", "|_ ", "|_|"},
	'7': {" _ ", "  |", "  |"},
	'8': {" _ ", "|_|", "|_|"},
	'9': {" _ ", "|_|", " _|"},
	',': {" ", " ", ","},
	'/': {"   ", "  /", " / "},
	' ': {" ", " ", " "},
}

// big renders s (digits, commas, slashes, spaces) three lines high.
func big(s string) [3]string {
	var out [3]string
	for _, c := range s {
		g, ok := bigDigits[c]
		if !ok {
			continue
		}
		for i := range out {
			out[i] += g[i]
		}
	}
	return out
}
