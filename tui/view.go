package tui

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// Screen sizes: below minW×minH the compact view; from largeW×largeH the
// large one with more detail.
const (
	minW, minH     = 80, 24
	largeW, largeH = 120, 40
)

// latencyNames are the latency rows, in order, with their labels.
var latencyNames = []struct{ name, label string }{
	{stats.LatConnect, "connect"},
	{stats.LatLogin, "login"},
	{stats.LatHeartbeat, "heartbeat"},
	{stats.LatAck, "ack"},
	{stats.LatDeliver, "deliver"},
	{stats.LatLag, "lag"},
}

// View builds the screen from the model; it does nothing else.
func (m model) View() string {
	w, h := m.width, m.height
	if m.quitting || w <= 0 || h <= 0 {
		return ""
	}
	var lines []string
	if w < minW || h < minH {
		lines = m.compact(w, h)
	} else {
		lines = m.full(w, h)
	}
	if len(lines) > h {
		lines = lines[:h]
	}
	for i := range lines {
		lines[i] = fit(lines[i], w)
	}
	return strings.Join(lines, "\n")
}

// full is the 80×24-and-up screen. Its fixed parts take 18 lines; the rest
// goes to the per-port and per-source bars, the errors and, when there is
// room, the server's shards.
func (m model) full(w, h int) []string {
	large := w >= largeW && h >= largeH
	var out []string
	out = append(out, m.header(w), "")
	out = append(out, m.runBlock(w, large)...)
	out = append(out, "")

	cols := m.whereColumns(large)
	errs := m.errorRows()
	bottom := m.bottom(w, large)
	fixed := len(out) + 1 /*where head*/ + 1 + 1 /*errors head*/ + 1 + len(bottom) + 2 /*host, footer*/
	avail := max(h-fixed, 2)
	wantW, wantE := 1, max(len(errs), 1)
	for _, c := range cols {
		wantW = max(wantW, len(c.items))
	}
	rw, re := min(wantW, max(avail/2, 1)), min(wantE, max(avail/2, 1))
	extra := avail - rw - re
	grow := min(extra, wantW-rw)
	rw, extra = rw+grow, extra-grow
	grow = min(extra, wantE-re)
	re, extra = re+grow, extra-grow

	if m.help {
		help := m.helpLines()
		n := rw + re + 4
		for i := range n {
			if i < len(help) {
				out = append(out, help[i])
			} else {
				out = append(out, "")
			}
		}
	} else {
		out = append(out, m.whereBlock(cols, w, rw)...)
		out = append(out, "")
		out = append(out, m.errorBlock(errs, w, re, large)...)
		out = append(out, "")
	}
	out = append(out, bottom...)
	if rows := m.shardTable(w, extra-1); len(rows) > 0 {
		out = append(out, "")
		out = append(out, rows...)
	}
	out = append(out, m.hostLine(), m.footer(w))
	return out
}

// compact is the screen below 80×24: the most important lines first, as
// many as fit, each cut to the width, then put back in reading order.
func (m model) compact(w, h int) []string {
	type line struct {
		prio int
		text string
	}
	st := m.st
	var ls []line
	add := func(prio int, s string) { ls = append(ls, line{prio, s}) }
	add(0, m.header(w))
	if m.help {
		for i, l := range m.helpLines() {
			add(2+i, l)
		}
		add(1, m.footer(w))
	} else {
		est, target := m.progressNumbers()
		add(1, st.title.Render(stats.Thousands(est))+" / "+stats.Thousands(target)+" "+m.progressLabel()+"  "+stats.Percent(float64(est), float64(target)))
		add(5, " "+st.progress(frac(est, target), w-2))
		sw := m.s.Swarm
		if m.hasSwarm() {
			spark := sparkline(m.rates, max(w-44, 4))
			add(2, "conn/s "+stats.Thousands(int64(m.rate()))+" "+st.good.Render(spark)+"  connects "+stats.Thousands(sw.Established)+"  drop "+stats.Thousands(sw.Dropped))
			if l := m.msgLine(); l != "" {
				add(7, l)
			}
		}
		if errs := m.errorRows(); len(errs) > 0 {
			parts := make([]string, 0, len(errs))
			for _, e := range errs {
				parts = append(parts, e.class+" "+stats.Thousands(e.n))
			}
			add(3, st.bad.Render("errors "+stats.Thousands(sumMap(sw.Errors)))+": "+strings.Join(parts, ", "))
			add(9, "  fix: "+stats.FixIn(sw.Fixes, errs[0].class))
		} else if m.hasSwarm() {
			add(8, "errors none")
		}
		if m.hasSwarm() {
			var ps []string
			for _, l := range []struct{ name, label string }{{stats.LatConnect, "conn"}, {stats.LatLogin, "login"}, {stats.LatHeartbeat, "hb"}, {stats.LatAck, "ack"}} {
				ps = append(ps, l.label+" "+m.nowQuantile(l.name, 0.99))
			}
			add(6, "p99 ("+lastLabel(m.nowSecs)+") "+strings.Join(ps, "  "))
		}
		add(4, m.serverLine())
		add(7, m.dispatcherLine())
		add(10, strings.TrimPrefix(m.hostLine(), " "))
		if cols := m.whereColumns(false); len(cols) > 0 && len(cols[0].items) > 0 {
			var ps []string
			for _, it := range cols[0].items {
				ps = append(ps, it.label+" "+stats.Short(float64(it.v)))
			}
			add(11, cols[0].title+": "+strings.Join(ps, "  "))
		}
		add(1, m.footer(w))
	}
	keep := make([]bool, len(ls))
	order := make([]int, len(ls))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ls[a].prio, ls[b].prio) })
	for _, i := range order[:min(h, len(order))] {
		keep[i] = true
	}
	var out []string
	for i, l := range ls {
		if keep[i] {
			out = append(out, l.text)
		}
	}
	return out
}

func (m model) hasSwarm() bool {
	sw := m.s.Swarm
	return sw.Kind != "" || sw.Target != 0 || sw.Established != 0
}

func (m model) target() int64 {
	if m.opts.Target > 0 {
		return m.opts.Target
	}
	return m.s.Swarm.Target
}

// progressNumbers are the big number and what it is measured against: the
// connections the swarm holds (connects made, redials included, are shown
// beside it), or the server's connections when no swarm is attached.
func (m model) progressNumbers() (int64, int64) {
	if !m.hasSwarm() && m.s.Server != nil {
		return m.s.Server.Connections, m.opts.Target
	}
	return m.s.Swarm.Held, m.target()
}

func (m model) progressLabel() string {
	if !m.hasSwarm() && m.s.Server != nil {
		return "server connections"
	}
	return "held"
}

func (m model) rate() float64 {
	if len(m.rates) == 0 {
		return 0
	}
	return m.rates[len(m.rates)-1]
}

func frac(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

func (m model) header(w int) string {
	st := m.st
	title := m.opts.Title
	if title == "" {
		title = DefaultTitle
	}
	sw := m.s.Swarm
	left := st.title.Render(title)
	switch {
	case !m.have:
		left += "  " + st.faint.Render("waiting for the first sample…")
	case sw.Down:
		left += "  " + st.bad.Render("SWARM DOWN")
	case sw.Phase != "":
		left += "  " + st.head.Render(strings.ToUpper(sw.Phase))
		if sw.Phase == stats.PhaseHold {
			if rest, ok := m.holdLeft(); ok {
				left += " " + stats.Clock(rest) + st.label.Render(" left of ") + stats.Clock(m.opts.Hold.Seconds())
			} else if m.opts.Stop != nil && m.opts.Hold <= 0 {
				left += st.label.Render(" until q")
			}
		}
	}
	if m.have && (sw.Paused || m.paused) {
		left += " " + st.warn.Render("PAUSED")
	}
	if m.have && m.s.Fault != "" {
		left += "  " + st.bad.Render("FAULT "+m.s.Fault)
	}
	if m.have {
		left += "  " + st.label.Render("elapsed ") + stats.Clock(m.s.T)
	}
	if t := m.target(); t > 0 {
		left += "  " + st.label.Render("target ") + stats.Thousands(t)
	}
	return fit(left, w)
}

func (m model) footer(w int) string {
	st := m.st
	var status string
	switch {
	case m.stopping:
		status = st.warn.Render("stopping the run… Ctrl-C again exits at once")
	case m.paused:
		status = st.warn.Render("ramp paused: p resumes")
	}
	var keys []string
	if m.opts.Stop != nil {
		keys = append(keys, st.key.Render("q")+" stop")
	} else {
		keys = append(keys, st.key.Render("q")+" quit")
	}
	if m.opts.Pause != nil {
		keys = append(keys, st.key.Render("p")+" pause")
	}
	keys = append(keys, st.key.Render("?")+" help")
	return spread(status, strings.Join(keys, "  "), w)
}

func (m model) helpLines() []string {
	st := m.st
	q := "stop the run gracefully; a second Ctrl-C exits at once"
	if m.opts.Stop == nil {
		q = "quit the dashboard (the processes it watches keep running)"
	}
	lines := []string{
		st.head.Render("keys"),
		"  q, Ctrl-C   " + q,
	}
	if m.opts.Pause != nil {
		lines = append(lines, "  p           pause the ramp, or resume it")
	}
	lines = append(lines,
		"  ?, Esc      close this help",
		st.head.Render("reading the screen"),
		"  held         connections open now; connects = completed connects, redials included; dropped = lost after",
		"  latency      p50 p99 p99.9 of the last interval; 'run': since the start",
		"  msg/s        SENDs sent, ACKed and DELIVERed per second over the last interval",
		"  conns/sess   each server shard's connections / sessions",
		"  B/conn       server RSS growth per added connection (≤: all RSS / connections)",
		"  DOWN         the source stopped answering; its last numbers stay on screen",
	)
	return lines
}

// runBlock is the progress: the big number, the bar, the connect rate.
func (m model) runBlock(w int, large bool) []string {
	st := m.st
	est, target := m.progressNumbers()
	p := stats.Percent(float64(est), float64(target))
	var out []string
	if large {
		text := stats.Thousands(est)
		if target > 0 {
			text += " / " + stats.Thousands(target)
		}
		g := big(text)
		out = append(out,
			" "+st.title.Render(g[0]),
			" "+st.title.Render(g[1])+"   "+text+" "+m.progressLabel(),
			" "+st.title.Render(g[2])+"   "+p)
	} else {
		left := " " + st.title.Render(stats.Thousands(est))
		if target > 0 {
			left += " / " + stats.Thousands(target)
		}
		out = append(out, spread(left+" "+m.progressLabel(), p+" ", w))
	}
	out = append(out, " "+st.progress(frac(est, target), w-2))
	if !m.hasSwarm() {
		return append(out, st.faint.Render(" no swarm attached (imtool dash --swarm URL)"))
	}
	sw := m.s.Swarm
	right := "  held now " + stats.Thousands(sw.Held) + "  dropped " + stats.Thousands(sw.Dropped)
	if large && len(sw.Drops) > 0 {
		var ds []string
		for _, k := range stats.SortedKeys(sw.Drops) {
			ds = append(ds, k+" "+stats.Thousands(sw.Drops[k]))
		}
		right += " (" + strings.Join(ds, ", ") + ")"
	}
	left := " conn/s " + pad(stats.Thousands(int64(m.rate())), 8) + " "
	spark := sparkline(m.rates, max(w-width(left)-width(right)-2, 4))
	out = append(out, left+st.good.Render(spark)+right)
	if l := m.msgLine(); l != "" {
		out = append(out, " "+l)
	}
	return out
}

// msgLine is the swarm's message throughput over the last interval, when
// it sends messages or heartbeats.
func (m model) msgLine() string {
	sw, r, st := m.s.Swarm, m.msgs, m.st
	if !r.ok || (sw.Sent == 0 && sw.Pings == 0) {
		return ""
	}
	n := func(v float64) string { return stats.Thousands(int64(math.Round(v))) }
	l := st.label.Render("msg/s ") + "sent " + n(r.sent) + "  acked " + n(r.acked) + "  delivered " + n(r.delivered)
	if sw.Pings > 0 {
		l += st.label.Render("   ping/s ") + n(r.pings) + st.label.Render("  pong/s ") + n(r.pongs)
	}
	if mq := sw.MQTT; mq != nil { // counts of the run so far; lost includes deliveries on their way
		l += st.label.Render("   mqtt lost ") + stats.Thousands(mq.Lost[0]+mq.Lost[1]+mq.Lost[2]) +
			st.label.Render("  dup ") + stats.Thousands(mq.Duplicated[0]+mq.Duplicated[1]+mq.Duplicated[2])
	}
	return l
}

// item is one bar: a port, a source IP, an agent or a shard.
type item struct {
	label string
	v     int64
	down  bool
}

type column struct {
	title string
	items []item
	scale int64 // the value of a full bar
}

// whereColumns says where the connections are: per target port, per source
// IP, per agent host or swarm shard, or per server shard.
func (m model) whereColumns(large bool) []column {
	sw := m.s.Swarm
	mk := func(title string, items []item) column {
		c := column{title: title, items: items}
		for _, it := range items {
			c.scale = max(c.scale, it.v)
		}
		if t := m.target(); t > 0 && len(items) > 0 {
			c.scale = max(c.scale, t/int64(len(items)))
		}
		return c
	}
	ports := sw.Ports
	if len(ports) == 0 && m.s.Server != nil {
		ports = m.s.Server.Ports
	}
	var cols []column
	portTitle := "held per port"
	if len(sw.Ports) == 0 {
		portTitle = "conns per port"
	}
	cols = append(cols, mk(portTitle, mapItems(ports, portLess)))
	var rest []column
	if len(sw.SourceIPs) > 0 {
		rest = append(rest, mk("held per source IP", mapItems(sw.SourceIPs, ipLess)))
	}
	if len(sw.Shards) > 0 {
		var its []item
		for i, s := range sw.Shards {
			its = append(its, item{label: shardName(s, i), v: s.Held, down: s.Down})
		}
		rest = append(rest, mk("held per agent/shard", its))
	}
	if len(rest) == 0 && m.s.Server != nil && len(m.s.Server.Shards) > 0 {
		var its []item
		for i, s := range m.s.Server.Shards {
			its = append(its, item{label: shardName(s, i), v: s.Connections, down: s.Down})
		}
		rest = append(rest, mk("conns per server shard", its))
	}
	if !large && len(rest) > 1 {
		rest = rest[:1]
	}
	return append(cols, rest...)
}

func shardName(s stats.Snapshot, i int) string {
	if s.ID != "" {
		return s.ID
	}
	return "#" + strconv.Itoa(i+1)
}

func mapItems(m map[string]int64, less func(a, b string) int) []item {
	keys := stats.SortedKeys(m)
	slices.SortStableFunc(keys, less)
	out := make([]item, 0, len(keys))
	for _, k := range keys {
		out = append(out, item{label: k, v: m[k]})
	}
	return out
}

func portLess(a, b string) int {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return cmp.Compare(x, y)
}

func ipLess(a, b string) int {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return x.Compare(y)
}

func (m model) whereBlock(cols []column, w, rows int) []string {
	cw := (w - 1) / max(len(cols), 1)
	out := make([]string, rows+1)
	for _, c := range cols {
		lines := m.columnLines(c, cw-2, rows)
		for i := range out {
			l := ""
			if i < len(lines) {
				l = lines[i]
			}
			out[i] += pad(l, cw)
		}
	}
	for i := range out {
		out[i] = strings.TrimRight(" "+out[i], " ")
	}
	return out
}

func (m model) columnLines(c column, cw, rows int) []string {
	st := m.st
	out := []string{st.head.Render(c.title) + st.label.Render(" ("+strconv.Itoa(len(c.items))+")")}
	if len(c.items) == 0 {
		return append(out, st.faint.Render(" -"))
	}
	labelW := 4
	for _, it := range c.items {
		labelW = max(labelW, width(it.label))
	}
	labelW = min(labelW, 15)
	n := len(c.items)
	shown := n
	if n > rows {
		shown = rows - 1
	}
	barW := max(cw-labelW-10, 3)
	for _, it := range c.items[:shown] {
		val := padLeft(stats.Short(float64(it.v)), 7)
		if it.down {
			val = padLeft(st.bad.Render("DOWN"), 7)
		}
		out = append(out, pad(it.label, labelW)+" "+st.progress(frac(it.v, c.scale), barW)+" "+val)
	}
	if shown < n {
		lo, hi := c.items[shown].v, c.items[shown].v
		for _, it := range c.items[shown:] {
			lo, hi = min(lo, it.v), max(hi, it.v)
		}
		out = append(out, st.faint.Render("+"+strconv.Itoa(n-shown)+" more, "+stats.Short(float64(lo))+"–"+stats.Short(float64(hi))+" each"))
	}
	return out
}

type errRow struct {
	class string
	n     int64
}

// errorRows are the swarm's errors by class, the most frequent first.
func (m model) errorRows() []errRow {
	var out []errRow
	for k, v := range m.s.Swarm.Errors {
		if v > 0 {
			out = append(out, errRow{k, v})
		}
	}
	slices.SortFunc(out, func(a, b errRow) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.class, b.class)
	})
	return out
}

func sumMap(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func (m model) errorBlock(errs []errRow, w, rows int, large bool) []string {
	st := m.st
	head := st.head.Render("errors")
	total := sumMap(m.s.Swarm.Errors)
	switch {
	case total > 0:
		head += "  " + st.bad.Render(stats.Thousands(total))
	case m.hasSwarm():
		head += "  " + st.good.Render("none")
	default:
		head += "  " + st.faint.Render("-")
	}
	if srv := m.s.Server; srv != nil && (len(srv.Errors) > 0 || srv.Rejected > 0) {
		var ps []string
		for _, k := range stats.SortedKeys(srv.Errors) {
			if srv.Errors[k] > 0 {
				ps = append(ps, k+" "+stats.Thousands(srv.Errors[k]))
			}
		}
		if srv.Rejected > 0 {
			ps = append(ps, "rejected "+stats.Thousands(srv.Rejected))
		}
		if len(ps) > 0 {
			head += st.label.Render("   server: ") + strings.Join(ps, ", ")
		}
	}
	out := []string{" " + head}
	shown := len(errs)
	if shown > rows {
		shown = rows - 1
	}
	for _, e := range errs[:shown] {
		fix := stats.FixIn(m.s.Swarm.Fixes, e.class)
		if ex := m.s.Swarm.ErrorExample[e.class]; large && ex != "" {
			fix += st.faint.Render("  (e.g. " + ex + ")")
		}
		out = append(out, "  "+pad(e.class, 16)+padLeft(stats.Thousands(e.n), 9)+"  "+st.label.Render(fix))
	}
	if shown < len(errs) {
		var rest int64
		for _, e := range errs[shown:] {
			rest += e.n
		}
		out = append(out, st.faint.Render("  +"+strconv.Itoa(len(errs)-shown)+" more classes, "+stats.Thousands(rest)+" errors"))
	}
	return out
}

// quantile formats one latency quantile since the start, "-" without
// samples.
func (m model) quantile(name string, q float64) string {
	return quantileOf(m.s.Swarm.Latency[name], q)
}

// nowQuantile formats one latency quantile of the last interval.
func (m model) nowQuantile(name string, q float64) string {
	if m.s.Swarm.Down {
		return "-"
	}
	return quantileOf(m.nowLat[name], q)
}

func quantileOf(h stats.Hist, q float64) string {
	if h.Count == 0 {
		return "-"
	}
	return stats.Latency(h.Quantile(q))
}

// bottom is the latency table beside the server side: six lines.
func (m model) bottom(w int, large bool) []string {
	lat := m.latencyLines(large)
	lw := 38
	if large {
		lw = 58
	}
	srv := m.serverLines()
	out := make([]string, max(len(lat), len(srv)))
	for i := range out {
		var l, r string
		if i < len(lat) {
			l = lat[i]
		}
		if i < len(srv) {
			r = srv[i]
		}
		out[i] = strings.TrimRight(" "+pad(l, lw)+" "+fit(r, w-lw-2), " ")
	}
	return out
}

// latencyLines are the latency table: p50, p99 and p99.9 of the last
// interval (named in the head, e.g. "last 1s") and, on large screens, the
// p99 and max since the start.
func (m model) latencyLines(large bool) []string {
	st := m.st
	// The head's first cell runs into the p50 column, whose label is short.
	head := pad(st.head.Render("latency")+" "+st.label.Render(lastLabel(m.nowSecs)), 15) + padLeft(st.label.Render("p50"), 4)
	cols := []string{"p99", "p99.9"}
	if large {
		cols = append(cols, "p99 run", "max run")
	}
	for _, c := range cols {
		head += padLeft(st.label.Render(c), 9)
	}
	out := []string{head}
	for _, l := range latencyNames {
		row := pad(l.label, 10)
		for _, q := range []float64{0.5, 0.99, 0.999} {
			row += padLeft(m.nowQuantile(l.name, q), 9)
		}
		if large {
			mx := "-"
			if h := m.s.Swarm.Latency[l.name]; h.Count > 0 {
				mx = stats.Latency(time.Duration(h.Max))
			}
			row += padLeft(m.quantile(l.name, 0.99), 9) + padLeft(mx, 9)
		}
		out = append(out, row)
	}
	return out
}

// serverLines are the gateway's numbers and the dispatcher's state.
func (m model) serverLines() []string {
	st := m.st
	s := m.s.Server
	if s == nil {
		return []string{st.head.Render("server") + "  " + st.faint.Render("not attached"), "", "", "", "", m.dispatcherLine()}
	}
	head := st.head.Render("server") + "  " + s.Kind
	if s.Processes > 1 {
		head += " ×" + strconv.FormatInt(s.Processes, 10)
	}
	if s.Down {
		head += "  " + st.bad.Render("DOWN") + st.faint.Render(" last numbers")
	} else if s.UptimeS > 0 {
		head += st.label.Render("  up ") + stats.Clock(s.UptimeS)
	}
	perConn := "-"
	if b, growth := m.srvMem.perConn(s); b > 0 {
		perConn = stats.Bytes(b)
		if !growth {
			perConn = "≤" + perConn
		}
	}
	cpu := "-"
	if m.srvCPU.ok && !s.Down {
		cpu = strconv.FormatFloat(m.srvCPU.pct, 'f', 0, 64) + "%"
	}
	fds := stats.Thousands(s.FDs)
	if s.FDLimit > 0 {
		fds += "/" + stats.Short(float64(s.FDLimit))
	}
	if s.FDsAgeS >= 2 { // counted now and then on kernels before 6.2
		fds += st.faint.Render(" (" + strconv.FormatFloat(s.FDsAgeS, 'f', 0, 64) + "s old)")
	}
	out := []string{
		head,
		st.label.Render("conns ") + stats.Thousands(s.Connections) + st.label.Render("  sessions ") + stats.Thousands(s.Sessions),
		st.label.Render("rss ") + stats.Bytes(float64(s.RSSBytes)) + "  " + perConn + st.label.Render("/conn"),
		st.label.Render("cpu ") + cpu + st.label.Render("  fds ") + fds,
	}
	if len(s.Shards) > 0 {
		var ps []string
		for _, sh := range s.Shards {
			if sh.Down {
				ps = append(ps, st.bad.Render("DOWN"))
				continue
			}
			ps = append(ps, stats.Short(float64(sh.Connections))+"/"+stats.Short(float64(sh.Sessions)))
		}
		out = append(out, st.label.Render("shards conns/sess ")+strings.Join(ps, " "))
	} else {
		out = append(out, st.label.Render("rejected ")+stats.Thousands(s.Rejected)+st.label.Render("  kicks ")+stats.Thousands(s.Kicks)+st.label.Render("  slow ")+stats.Thousands(s.SlowClients))
	}
	return append(out, m.dispatcherLine())
}

// serverLine is the server in one line, for the compact view.
func (m model) serverLine() string {
	st := m.st
	s := m.s.Server
	if s == nil {
		return st.label.Render("server ") + st.faint.Render("not attached")
	}
	l := st.label.Render("server ")
	if s.Down {
		l += st.bad.Render("DOWN") + " "
	}
	l += stats.Thousands(s.Connections) + " conns " + stats.Thousands(s.Sessions) + " sess"
	if b, growth := m.srvMem.perConn(s); b > 0 {
		if !growth {
			l += " ≤"
		} else {
			l += " "
		}
		l += stats.Bytes(b) + "/conn"
	}
	return l
}

func (m model) dispatcherLine() string {
	st := m.st
	var parts []string
	if d := m.s.Dispatcher; d != nil {
		if d.Down {
			parts = append(parts, st.bad.Render("DOWN"))
		} else {
			parts = append(parts, st.good.Render("up"), "gw "+stats.Thousands(d.Gateways), "uids "+stats.Thousands(d.Sessions))
			if m.dispCPU.ok {
				parts = append(parts, "cpu "+strconv.FormatFloat(m.dispCPU.pct, 'f', 0, 64)+"%")
			}
		}
	}
	if s := m.s.Server; s != nil && s.Dispatcher != "" {
		state := s.Dispatcher
		switch state {
		case "up":
			state = st.good.Render(state)
		case "down":
			state = st.bad.Render(state)
		}
		parts = append(parts, st.label.Render("link ")+state)
	}
	if len(parts) == 0 {
		parts = append(parts, st.faint.Render("not attached"))
	}
	return st.label.Render("dispatcher ") + strings.Join(parts, "  ")
}

// hostLine is the machine: CPU, memory, kernel TCP sockets, port-range use.
func (m model) hostLine() string {
	st := m.st
	h := m.s.Host
	if h == nil {
		return " " + st.head.Render("host") + "  " + st.faint.Render("-")
	}
	l := " " + st.head.Render("host") +
		st.label.Render("  cpu ") + strconv.FormatFloat(h.CPUPercent, 'f', 0, 64) + "%" +
		st.label.Render("  mem avail ") + stats.Bytes(float64(h.MemAvailable)) +
		st.label.Render("  tcp inuse ") + stats.Thousands(h.TCPInUse) +
		st.label.Render("  time_wait ") + stats.Thousands(h.TCPTimeWait)
	if use, ok := m.portRangeUse(); ok {
		v := strconv.FormatFloat(100*use, 'f', 0, 64) + "%"
		if use > 0.5 {
			v = st.warn.Render(v + " (over half: connect slows)")
		}
		l += st.label.Render("  port range ") + v
	}
	return l
}

// portRangeUse estimates how full the busiest (source IP × target port)
// pair's share of the local port range is, assuming the swarm spreads its
// connections evenly, which its plan does.
func (m model) portRangeUse() (float64, bool) {
	sw := m.s.Swarm
	size := m.portHigh - m.portLow + 1
	if m.portHigh <= m.portLow || sw.Held == 0 || (len(sw.SourceIPs) == 0 && len(sw.Shards) > 0) {
		return 0, false // agents dial from their own hosts
	}
	pairs := int64(max(len(sw.SourceIPs), 1) * max(len(sw.Ports), 1))
	return float64(sw.Held) / float64(pairs) / float64(size), true
}

// shardTable lists the server's shards one per line when there is room.
func (m model) shardTable(w, rows int) []string {
	s := m.s.Server
	if s == nil || len(s.Shards) == 0 || rows < 2 {
		return nil
	}
	st := m.st
	out := []string{" " + st.head.Render(pad("shard", 14)) + st.label.Render(padLeft("conns", 10)+padLeft("sessions", 10)+padLeft("rss", 9)+padLeft("B/conn", 9)+padLeft("fds", 9)+"  dispatcher")}
	for i, sh := range s.Shards {
		if len(out) == rows {
			out[len(out)-1] = st.faint.Render(" +" + strconv.Itoa(len(s.Shards)-i+1) + " more shards")
			break
		}
		per := "-"
		if sh.Connections > 0 {
			per = stats.Bytes(float64(sh.RSSBytes) / float64(sh.Connections))
		}
		row := " " + pad(shardName(sh, i), 14) + padLeft(stats.Thousands(sh.Connections), 10) + padLeft(stats.Thousands(sh.Sessions), 10) +
			padLeft(stats.Bytes(float64(sh.RSSBytes)), 9) + padLeft(per, 9) + padLeft(stats.Thousands(sh.FDs), 9) + "  " + sh.Dispatcher
		if sh.Down {
			row += "  " + st.bad.Render("DOWN")
		}
		out = append(out, fit(row, w))
	}
	return out
}
