package scenario

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Parse compiles the scenario in src; file names it in errors. Every
// mistake is an *Error at file:line:col with its fix.
func Parse(file string, src []byte) (*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, syntaxError(file, err)
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: file, Pos: Pos{1, 1}, Msg: "the file is empty", Fix: "start from one of examples/protocols/*.yaml"}
	}
	c := &compiler{file: file, s: &Scenario{File: file}}
	if err := c.top(doc.Content[0]); err != nil {
		return nil, err
	}
	return c.s, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func syntaxError(file string, err error) error {
	line := 1
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[i+2:]
	}
	return &Error{File: file, Pos: Pos{line, 1}, Msg: "not valid YAML: " + msg,
		Fix: "check the indentation and quote strings that hold ':', '{' or '#'"}
}

type compiler struct {
	file string
	s    *Scenario
	// known are the variables a template may use here: the persistent
	// ones, and those the matcher before it captured.
	known map[string]bool
	tpl   *Template // the template being compiled
}

func (c *compiler) errf(n *yaml.Node, fix, format string, args ...any) error {
	return &Error{File: c.file, Pos: Pos{n.Line, n.Column}, Msg: fmt.Sprintf(format, args...), Fix: fix}
}

// fields checks a mapping's keys against known ones and returns key → value.
func (c *compiler) fields(n *yaml.Node, what string, known ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, c.errf(n, "write it as `key: value` lines ("+strings.Join(known, ", ")+")", "%s must be a mapping", what)
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, kn := range known {
			ok = ok || kn == k.Value
		}
		if !ok {
			fix := "known fields: " + strings.Join(known, ", ")
			if s := nearest(k.Value, known); s != "" {
				fix = "did you mean " + s + "? " + fix
			}
			return nil, c.errf(k, fix, "unknown field %q in %s", k.Value, what)
		}
		if _, dup := out[k.Value]; dup {
			return nil, c.errf(k, "give it once", "%s has %q twice", what, k.Value)
		}
		out[k.Value] = n.Content[i+1]
	}
	return out, nil
}

// nearest is the known word closest to w (edit distance ≤ 2), or "".
func nearest(w string, known []string) string {
	best, bd := "", 3
	for _, k := range known {
		if d := distance(w, k); d < bd {
			best, bd = k, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func (c *compiler) str(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", c.errf(n, "give a string (quote it: \"…\")", "%s must be a string", what)
	}
	return n.Value, nil
}

func (c *compiler) integer(n *yaml.Node, what string) (int64, error) {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return v, nil
		}
	}
	return 0, c.errf(n, "give a whole number (0x1f for hex)", "%s must be a number, not %q", what, n.Value)
}

func (c *compiler) boolean(n *yaml.Node, what string) (bool, error) {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	return false, c.errf(n, "give true or false", "%s must be true or false", what)
}

func (c *compiler) duration(n *yaml.Node, what string) (time.Duration, error) {
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d < 0 {
		return 0, c.errf(n, "give a duration with its unit, e.g. 5s or 500ms", "%s %q is not a duration", what, n.Value)
	}
	return d, nil
}

func (c *compiler) top(n *yaml.Node) error {
	f, err := c.fields(n, "the scenario", "name", "transport", "ws", "framing", "max_frame", "token", "jwt",
		"open", "heartbeat", "answers", "message", "errors")
	if err != nil {
		return err
	}
	s := c.s
	c.known = map[string]bool{}
	if v := f["name"]; v != nil {
		if s.Name, err = c.str(v, "name"); err != nil {
			return err
		}
	}
	s.Transport = TCP
	if v := f["transport"]; v != nil {
		switch v.Value {
		case TCP, TLS, WS, WSS:
			s.Transport = v.Value
		default:
			return c.errf(v, "give tcp, tls, ws or wss", "unknown transport %q", v.Value)
		}
	}
	if v := f["ws"]; v != nil {
		if !s.IsWS() {
			return c.errf(v, "set transport: ws (or wss), or remove ws:", "ws: applies to WebSocket transports only")
		}
		if err := c.ws(v); err != nil {
			return err
		}
	}
	maxFrame := int64(DefaultMaxFrame)
	if v := f["max_frame"]; v != nil {
		if maxFrame, err = c.integer(v, "max_frame"); err != nil {
			return err
		}
		if maxFrame < 16 || maxFrame > 64<<20 {
			return c.errf(v, "give 16 bytes to 64 MiB", "max_frame %d is out of range", maxFrame)
		}
	}
	if v := f["framing"]; v != nil {
		if err := c.framing(v); err != nil {
			return err
		}
	} else if s.IsWS() {
		s.Framing.Kind = FrameMessage
	} else {
		return c.errf(n, "add framing: line (or {line: \"\\r\\n\"}, {length: …}, {control: …}): docs/SCENARIOS.md", "a %s scenario needs framing: how the server's frames end", s.Transport)
	}
	if s.Framing.Kind == FrameMessage && !s.IsWS() {
		return c.errf(f["framing"], "use line, length or control framing over tcp and tls", "framing: message is for WebSocket transports")
	}
	s.Framing.Max = int(maxFrame)
	if v := f["token"]; v != nil {
		tf, err := c.fields(v, "token", "secret")
		if err != nil {
			return err
		}
		if sv := tf["secret"]; sv != nil {
			if s.TokenSecret, err = c.str(sv, "token.secret"); err != nil {
				return err
			}
		}
	}
	if v := f["jwt"]; v != nil {
		if err := c.jwt(v); err != nil {
			return err
		}
	}
	if v := f["open"]; v != nil {
		if err := c.steps(v); err != nil {
			return err
		}
	}
	if v := f["errors"]; v != nil {
		if err := c.errorRules(v); err != nil {
			return err
		}
	}
	if v := f["answers"]; v != nil {
		if err := c.answers(v); err != nil {
			return err
		}
	}
	if v := f["heartbeat"]; v != nil {
		if err := c.heartbeat(v); err != nil {
			return err
		}
	}
	if v := f["message"]; v != nil {
		if err := c.message(v); err != nil {
			return err
		}
	}
	return nil
}

func (c *compiler) ws(n *yaml.Node) error {
	f, err := c.fields(n, "ws", "path", "headers", "subprotocol", "binary")
	if err != nil {
		return err
	}
	w := &c.s.WS
	if v := f["path"]; v != nil {
		if w.Path, err = c.str(v, "ws.path"); err != nil {
			return err
		}
		if !strings.HasPrefix(w.Path, "/") {
			return c.errf(v, "start it with /", "ws.path %q is not a path", w.Path)
		}
	}
	if v := f["subprotocol"]; v != nil {
		if w.Subprotocol, err = c.str(v, "ws.subprotocol"); err != nil {
			return err
		}
	}
	if v := f["binary"]; v != nil {
		if w.Binary, err = c.boolean(v, "ws.binary"); err != nil {
			return err
		}
	}
	if v := f["headers"]; v != nil {
		if v.Kind != yaml.SequenceNode {
			return c.errf(v, "give a list of \"Name: value\" lines", "ws.headers must be a list")
		}
		for _, h := range v.Content {
			hv, err := c.str(h, "a header")
			if err != nil {
				return err
			}
			if !strings.Contains(hv, ":") {
				return c.errf(h, "write \"Name: value\"", "header %q has no ':'", hv)
			}
			w.Headers = append(w.Headers, hv)
		}
	}
	return nil
}

func (c *compiler) framing(n *yaml.Node) error {
	fr := &c.s.Framing
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "line":
			fr.Kind, fr.Delim = FrameLine, []byte("\n")
			return nil
		case "message":
			fr.Kind = FrameMessage
			return nil
		}
		return c.errf(n, "give line, message, {line: \"\\r\\n\"}, {length: …} or {control: …}", "unknown framing %q", n.Value)
	}
	f, err := c.fields(n, "framing", "line", "length", "control", "message")
	if err != nil {
		return err
	}
	if len(f) != 1 {
		return c.errf(n, "give exactly one of line, length, control, message", "framing has %d kinds", len(f))
	}
	if v := f["message"]; v != nil {
		fr.Kind = FrameMessage
		return nil
	}
	if v := f["line"]; v != nil {
		d, err := c.str(v, "framing.line")
		if err != nil {
			return err
		}
		if d == "" {
			return c.errf(v, "give the line ending, e.g. \"\\r\\n\"", "framing.line is empty")
		}
		fr.Kind, fr.Delim = FrameLine, []byte(d)
		return nil
	}
	if v := f["control"]; v != nil {
		cf, err := c.fields(v, "framing.control", "line", "bodies")
		if err != nil {
			return err
		}
		fr.Kind, fr.Delim = FrameControl, []byte("\r\n")
		if lv := cf["line"]; lv != nil {
			d, err := c.str(lv, "framing.control.line")
			if err != nil {
				return err
			}
			if d == "" {
				return c.errf(lv, "give the line ending, e.g. \"\\r\\n\"", "framing.control.line is empty")
			}
			fr.Delim = []byte(d)
		}
		bv := cf["bodies"]
		if bv == nil || bv.Kind != yaml.SequenceNode || len(bv.Content) == 0 {
			return c.errf(v, "give bodies: [\"MSG \"]: the prefixes of lines whose last field is the byte count of a body", "framing.control needs bodies")
		}
		for _, b := range bv.Content {
			p, err := c.str(b, "a body prefix")
			if err != nil {
				return err
			}
			fr.Bodies = append(fr.Bodies, []byte(p))
		}
		return nil
	}
	lv := f["length"]
	lf, err := c.fields(lv, "framing.length", "offset", "size", "order", "header", "includes_header", "adjust")
	if err != nil {
		return err
	}
	fr.Kind, fr.Size = FrameLength, 4
	if v := lf["size"]; v != nil {
		switch v.Value {
		case "1", "2", "4", "8":
			fr.Size, _ = strconv.Atoi(v.Value)
		case "varint":
			fr.Size = 0
		default:
			return c.errf(v, "give 1, 2, 4, 8 or varint", "framing.length.size %q is not a field size", v.Value)
		}
	}
	if v := lf["order"]; v != nil {
		if fr.Little, err = c.order(v); err != nil {
			return err
		}
	}
	for key, dst := range map[string]*int{"offset": &fr.Offset, "header": &fr.Header, "adjust": &fr.Adjust} {
		if v := lf[key]; v != nil {
			x, err := c.integer(v, "framing.length."+key)
			if err != nil {
				return err
			}
			if key != "adjust" && (x < 0 || x > 4096) {
				return c.errf(v, "give 0 to 4096", "framing.length.%s %d is out of range", key, x)
			}
			*dst = int(x)
		}
	}
	if v := lf["includes_header"]; v != nil {
		if fr.Includes, err = c.boolean(v, "framing.length.includes_header"); err != nil {
			return err
		}
	}
	fr.Header = max(fr.Header, fr.Offset+fr.Size)
	return nil
}

func (c *compiler) order(v *yaml.Node) (little bool, err error) {
	switch v.Value {
	case "big", "be":
		return false, nil
	case "little", "le":
		return true, nil
	}
	return false, c.errf(v, "give big or little", "byte order %q", v.Value)
}

func (c *compiler) jwt(n *yaml.Node) error {
	f, err := c.fields(n, "jwt", "secret", "claims", "ttl")
	if err != nil {
		return err
	}
	j := &JWT{}
	sv := f["secret"]
	if sv == nil {
		return c.errf(n, "add secret: the HMAC key the server checks tokens with", "jwt needs a secret")
	}
	sec, err := c.str(sv, "jwt.secret")
	if err != nil {
		return err
	}
	j.Secret = []byte(sec)
	cv := f["claims"]
	if cv == nil {
		return c.errf(n, `add claims: '{"sub":"{uid}"}'`, "jwt needs claims")
	}
	if j.Claims, err = c.template(cv, "jwt.claims", "uid", "i", "unix"); err != nil {
		return err
	}
	if v := f["ttl"]; v != nil {
		if j.TTL, err = c.duration(v, "jwt.ttl"); err != nil {
			return err
		}
	}
	c.s.JWT = j
	return nil
}

func (c *compiler) steps(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return c.errf(n, "give a list of steps: - send: … / - expect: …", "open must be a list of steps")
	}
	held := -1
	for i, sn := range n.Content {
		f, err := c.fields(sn, fmt.Sprintf("step %d", i+1), "send", "expect", "timeout", "held")
		if err != nil {
			return err
		}
		st := Step{Pos: Pos{sn.Line, sn.Column}}
		if v := f["send"]; v != nil {
			if st.Send, err = c.template(v, "send", c.openNames()...); err != nil {
				return err
			}
		}
		if v := f["expect"]; v != nil {
			if st.Expect, err = c.matcher(v, "expect", true); err != nil {
				return err
			}
			for _, ci := range captured(st.Expect) {
				c.known[c.s.Vars[ci].Name] = true
				if !contains(c.s.Persistent, ci) {
					c.s.Persistent = append(c.s.Persistent, ci)
				}
			}
		}
		if st.Send == nil && st.Expect == nil {
			return c.errf(sn, "give send:, expect: or both", "step %d does nothing", i+1)
		}
		if v := f["timeout"]; v != nil {
			if st.Expect == nil {
				return c.errf(v, "put the timeout on a step with expect:", "a timeout needs something to wait for")
			}
			if st.Timeout, err = c.duration(v, "timeout"); err != nil {
				return err
			}
		}
		if v := f["held"]; v != nil {
			h, err := c.boolean(v, "held")
			if err != nil {
				return err
			}
			if h {
				if held >= 0 {
					return c.errf(v, "mark one step held", "step %d is held already", held+1)
				}
				held = i
			}
		}
		c.s.Steps = append(c.s.Steps, st)
	}
	if held < 0 {
		held = len(c.s.Steps) - 1
	}
	c.s.Steps[held].Held = true
	return nil
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// openNames are the placeholders of templates on open.
func (c *compiler) openNames() []string {
	return []string{"uid", "i", "seq", "ts", "tid", "unix", "token", "jwt", "ts_ms"}
}

func (c *compiler) heartbeat(n *yaml.Node) error {
	f, err := c.fields(n, "heartbeat", "send", "reply")
	if err != nil {
		return err
	}
	h := &Heartbeat{}
	sv := f["send"]
	if sv == nil {
		return c.errf(n, "add send: the frame the client sends every --heartbeat (a server that pings is answered by answers:)", "heartbeat needs send")
	}
	if h.Send, err = c.template(sv, "heartbeat.send", c.openNames()...); err != nil {
		return err
	}
	if v := f["reply"]; v != nil {
		if h.Reply, err = c.matcher(v, "heartbeat.reply", false); err != nil {
			return err
		}
	}
	c.s.Heartbeat = h
	return nil
}

func (c *compiler) answers(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return c.errf(n, "give a list: - match: … send: …", "answers must be a list")
	}
	for i, an := range n.Content {
		f, err := c.fields(an, fmt.Sprintf("answer %d", i+1), "match", "send")
		if err != nil {
			return err
		}
		mv := f["match"]
		if mv == nil {
			return c.errf(an, "add match: the server's ping", "answer %d needs match", i+1)
		}
		a := Answer{}
		if a.Match, err = c.matcher(mv, "match", false); err != nil {
			return err
		}
		if v := f["send"]; v != nil {
			saved := c.known
			c.known = map[string]bool{}
			for k := range saved {
				c.known[k] = true
			}
			for _, ci := range captured(a.Match) {
				c.known[c.s.Vars[ci].Name] = true
			}
			a.Send, err = c.template(v, "send", c.openNames()...)
			c.known = saved
			if err != nil {
				return err
			}
		}
		c.s.Answers = append(c.s.Answers, a)
	}
	return nil
}

func (c *compiler) message(n *yaml.Node) error {
	f, err := c.fields(n, "message", "send", "ack", "deliver")
	if err != nil {
		return err
	}
	m := &Message{}
	sv := f["send"]
	if sv == nil {
		return c.errf(n, "add send: the frame --msg-rate sends to {peer}", "message needs send")
	}
	if m.Send, err = c.template(sv, "message.send", append(c.openNames(), "peer", "mid")...); err != nil {
		return err
	}
	if v := f["ack"]; v != nil {
		if m.Ack, err = c.matcher(v, "message.ack", false); err != nil {
			return err
		}
	}
	if v := f["deliver"]; v != nil {
		if m.Deliver, err = c.matcher(v, "message.deliver", false); err != nil {
			return err
		}
	}
	c.s.Message = m
	return nil
}

func (c *compiler) errorRules(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return c.errf(n, "give a list: - match: … class: … fix: …", "errors must be a list")
	}
	if len(n.Content) > MaxErrorClasses {
		return c.errf(n, fmt.Sprintf("give at most %d", MaxErrorClasses), "errors has %d rules", len(n.Content))
	}
	for i, en := range n.Content {
		f, err := c.fields(en, fmt.Sprintf("error %d", i+1), "match", "class", "fix")
		if err != nil {
			return err
		}
		r := ErrorRule{}
		mv, cv := f["match"], f["class"]
		if mv == nil || cv == nil {
			return c.errf(en, "give match:, class: and fix:", "error %d needs match and class", i+1)
		}
		if r.Match, err = c.matcher(mv, "match", true); err != nil {
			return err
		}
		if r.Class, err = c.str(cv, "class"); err != nil {
			return err
		}
		if !className.MatchString(r.Class) {
			return c.errf(cv, "use lowercase letters, digits and _ (auth_refused)", "class %q is not a class name", r.Class)
		}
		if v := f["fix"]; v != nil {
			if r.Fix, err = c.str(v, "fix"); err != nil {
				return err
			}
		}
		c.s.Errors = append(c.s.Errors, r)
	}
	return nil
}

// MaxErrorClasses bounds a scenario's error rules.
const MaxErrorClasses = 16

var className = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// captured are the variables m captures.
func captured(m *Matcher) []int {
	var out []int
	for _, cp := range m.Caps {
		out = append(out, cp.v)
	}
	for _, v := range m.reVars {
		if v >= 0 {
			out = append(out, v)
		}
	}
	return out
}

// variable is the index of the variable name, declared at n if new.
func (c *compiler) variable(name string, n *yaml.Node) (int, error) {
	if !varName.MatchString(name) {
		return 0, c.errf(n, "use letters, digits and _", "%q is not a variable name", name)
	}
	if b := builtinIndex(name); b >= 0 && name != CapTS && name != CapTID && name != CapSeq && name != CapMID {
		return 0, c.errf(n, "pick another name", "{%s} is a built-in placeholder, it cannot be captured", name)
	}
	if i := c.s.VarIndex(name); i >= 0 {
		return i, nil
	}
	c.s.Vars = append(c.s.Vars, Var{Name: name})
	return len(c.s.Vars) - 1, nil
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

// matcher compiles a matcher: a string is a prefix; a mapping has
// conditions and captures. close allows close: (a WebSocket close code).
func (c *compiler) matcher(n *yaml.Node, what string, closeOK bool) (*Matcher, error) {
	m := &Matcher{Pos: Pos{n.Line, n.Column}}
	if n.Kind == yaml.ScalarNode {
		m.Prefix = []byte(n.Value)
		m.Desc = fmt.Sprintf("prefix %q", n.Value)
		return m, nil
	}
	f, err := c.fields(n, what, "prefix", "contains", "equals", "regex", "json", "field", "capture", "close")
	if err != nil {
		return nil, err
	}
	var desc []string
	if v := f["prefix"]; v != nil {
		s, err := c.str(v, "prefix")
		if err != nil {
			return nil, err
		}
		m.Prefix = []byte(s)
		desc = append(desc, fmt.Sprintf("prefix %q", s))
	}
	if v := f["contains"]; v != nil {
		s, err := c.str(v, "contains")
		if err != nil {
			return nil, err
		}
		m.Contains = []byte(s)
		desc = append(desc, fmt.Sprintf("contains %q", s))
	}
	if v := f["equals"]; v != nil {
		s, err := c.str(v, "equals")
		if err != nil {
			return nil, err
		}
		m.Equals = []byte(s)
		desc = append(desc, fmt.Sprintf("equals %q", s))
	}
	if v := f["regex"]; v != nil {
		s, err := c.str(v, "regex")
		if err != nil {
			return nil, err
		}
		re, err := regexp.Compile(s)
		if err != nil {
			var se *syntax.Error
			msg := err.Error()
			if errors.As(err, &se) {
				msg = string(se.Code) + ": " + se.Expr
			}
			return nil, c.errf(v, "write it in Go's RE2 syntax (no look-around or back-references); name captures (?P<name>…)", "regex %q does not compile: %s", s, msg)
		}
		m.Regex = re
		for g, name := range re.SubexpNames() {
			vi := -1
			if g > 0 && name != "" {
				if vi, err = c.variable(name, v); err != nil {
					return nil, err
				}
				m.reCaps = true
			}
			m.reVars = append(m.reVars, vi)
		}
		desc = append(desc, fmt.Sprintf("regex %q", s))
	}
	if v := f["json"]; v != nil {
		jf := v
		if jf.Kind != yaml.MappingNode {
			return nil, c.errf(v, `give path: value pairs, e.g. json: {"connect.client": "*"} ("*": present)`, "json must be a mapping")
		}
		for i := 0; i+1 < len(jf.Content); i += 2 {
			k, val := jf.Content[i], jf.Content[i+1]
			if val.Kind != yaml.ScalarNode {
				return nil, c.errf(val, "give the value as text (\"*\": present, whatever it is)", "json %q: the value must be a scalar", k.Value)
			}
			jc := jsonCond{path: splitPath(k.Value), want: []byte(val.Value), any: val.Value == "*"}
			m.JSON = append(m.JSON, jc)
			desc = append(desc, fmt.Sprintf("json %s=%s", k.Value, val.Value))
		}
	}
	if v := f["field"]; v != nil {
		list := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			list = v.Content
		}
		for _, fn := range list {
			ff, err := c.fields(fn, "field", "offset", "size", "order", "equals")
			if err != nil {
				return nil, err
			}
			fc := fieldCond{size: 4}
			if err := c.fieldSpec(fn, ff, &fc.off, &fc.size, &fc.little); err != nil {
				return nil, err
			}
			ev := ff["equals"]
			if ev == nil {
				return nil, c.errf(fn, "add equals: the value the field must hold", "field needs equals")
			}
			w, err := c.integer(ev, "field.equals")
			if err != nil {
				return nil, err
			}
			fc.want = uint64(w)
			m.Fields = append(m.Fields, fc)
			desc = append(desc, fmt.Sprintf("u%d@%d=%d", fc.size*8, fc.off, fc.want))
		}
	}
	if v := f["close"]; v != nil {
		if !closeOK {
			return nil, c.errf(v, "match close codes in errors: or a step's expect:", "close: matches a WebSocket close, which ends the connection")
		}
		code, err := c.integer(v, "close")
		if err != nil {
			return nil, err
		}
		if code < 1000 || code > 4999 {
			return nil, c.errf(v, "give a WebSocket close code, 1000-4999", "close %d is not a close code", code)
		}
		if len(f) > 1 {
			return nil, c.errf(v, "give close: alone", "close: matches the close code only")
		}
		m.Close = int(code)
		desc = append(desc, fmt.Sprintf("WebSocket close %d", code))
	}
	if v := f["capture"]; v != nil {
		if err := c.captures(v, m); err != nil {
			return nil, err
		}
	}
	if len(desc) == 0 && len(m.Caps) == 0 {
		return nil, c.errf(n, "give prefix, contains, equals, regex, json or field", "%s matches nothing in particular", what)
	}
	m.Desc = strings.Join(desc, ", ")
	if m.Desc == "" {
		m.Desc = "any frame"
	}
	return m, nil
}

func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "$.")
	return strings.Split(p, ".")
}

func (c *compiler) fieldSpec(n *yaml.Node, f map[string]*yaml.Node, off, size *int, little *bool) error {
	ov := f["offset"]
	if ov == nil {
		return c.errf(n, "add offset: the field's first byte in the frame", "a binary field needs offset")
	}
	o, err := c.integer(ov, "offset")
	if err != nil {
		return err
	}
	if o < 0 || o > 1<<20 {
		return c.errf(ov, "give 0 to 1 MiB", "offset %d is out of range", o)
	}
	*off = int(o)
	if v := f["size"]; v != nil {
		switch v.Value {
		case "1", "2", "4", "8":
			*size, _ = strconv.Atoi(v.Value)
		case "varint":
			*size = 0
		default:
			return c.errf(v, "give 1, 2, 4, 8 or varint", "size %q", v.Value)
		}
	}
	if v := f["order"]; v != nil {
		if *little, err = c.order(v); err != nil {
			return err
		}
	}
	return nil
}

func (c *compiler) captures(n *yaml.Node, m *Matcher) error {
	if n.Kind != yaml.MappingNode {
		return c.errf(n, "give name: source pairs, e.g. capture: {ts: {json: data.ts}}", "capture must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, src := n.Content[i], n.Content[i+1]
		vi, err := c.variable(k.Value, k)
		if err != nil {
			return err
		}
		f, err := c.fields(src, "capture "+k.Value, "json", "offset", "size", "order", "after", "rest")
		if err != nil {
			return err
		}
		cp := capture{v: vi}
		switch {
		case f["json"] != nil:
			cp.kind, cp.path = capJSON, splitPath(f["json"].Value)
		case f["after"] != nil:
			cp.kind, cp.after = capAfter, []byte(f["after"].Value)
			if len(cp.after) == 0 {
				return c.errf(f["after"], "give the text the value follows, e.g. '\"ts\":'", "after is empty")
			}
		case f["rest"] != nil:
			o, err := c.integer(f["rest"], "rest")
			if err != nil {
				return err
			}
			cp.kind, cp.off = capRest, int(max(o, 0))
		case f["offset"] != nil:
			cp.kind, cp.size = capField, 4
			if err := c.fieldSpec(src, f, &cp.off, &cp.size, &cp.little); err != nil {
				return err
			}
		default:
			return c.errf(src, "give json: PATH, after: TEXT, rest: OFFSET or offset:/size:/order: of a binary field", "capture %s has no source", k.Value)
		}
		m.Caps = append(m.Caps, cp)
	}
	return nil
}

// template compiles a template: a string is text with placeholders; a list
// is binary fields.
func (c *compiler) template(n *yaml.Node, what string, builtins ...string) (*Template, error) {
	t := &Template{}
	c.tpl = t
	if n.Kind == yaml.ScalarNode {
		if err := c.text(t, n, n.Value, builtins); err != nil {
			return nil, err
		}
		return t, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, c.errf(n, "give text, or a list of fields (- u32: …)", "%s must be text or a list of fields", what)
	}
	names := map[string][2]int{} // name → its first and last part
	type pending struct {
		part   int
		target string
		node   *yaml.Node
	}
	var lens []pending
	for _, fn := range n.Content {
		if fn.Kind != yaml.MappingNode {
			return nil, c.errf(fn, "write each field as - KIND: VALUE (text, hex, u8, u16, u32, u64, u16le, u32le, u64le, varint, decimal)", "a field must be a mapping")
		}
		var kind, name string
		var val *yaml.Node
		for i := 0; i+1 < len(fn.Content); i += 2 {
			k := fn.Content[i]
			switch k.Value {
			case "name":
				name = fn.Content[i+1].Value
			case "text", "hex", "u8", "u16", "u32", "u64", "u16le", "u32le", "u64le", "varint", "decimal":
				if kind != "" {
					return nil, c.errf(k, "one kind per field", "this field is %s already", kind)
				}
				kind, val = k.Value, fn.Content[i+1]
			default:
				fix := "kinds: text, hex, u8, u16, u32, u64, u16le, u32le, u64le, varint, decimal; and name"
				if s := nearest(k.Value, []string{"text", "hex", "u8", "u16", "u32", "u64", "u16le", "u32le", "u64le", "varint", "decimal", "name"}); s != "" {
					fix = "did you mean " + s + "? " + fix
				}
				return nil, c.errf(k, fix, "unknown field kind %q", k.Value)
			}
		}
		if kind == "" {
			return nil, c.errf(fn, "give one of text, hex, u8 … u64le, varint, decimal", "a field with no kind")
		}
		first := len(t.parts)
		switch kind {
		case "text":
			if err := c.text(t, val, val.Value, builtins); err != nil {
				return nil, err
			}
		case "hex":
			b, err := decodeHex(val.Value)
			if err != nil {
				return nil, c.errf(val, "give pairs of hex digits (spaces allowed): \"0a 1b\"", "hex %q: %v", val.Value, err)
			}
			t.parts = append(t.parts, part{enc: encText, src: srcLit, lit: b})
		default:
			p := part{enc: encUint}
			switch kind {
			case "u8":
				p.size = 1
			case "u16", "u16le":
				p.size = 2
			case "u32", "u32le":
				p.size = 4
			case "u64", "u64le":
				p.size = 8
			case "varint":
				p.enc = encVarint
			case "decimal":
				p.enc = encDecimal
			}
			p.little = strings.HasSuffix(kind, "le")
			target, err := c.value(&p, val, builtins)
			if err != nil {
				return nil, err
			}
			if target != "" {
				lens = append(lens, pending{len(t.parts), target, val})
				t.hasLen = true
			}
			t.parts = append(t.parts, p)
		}
		if name != "" {
			if len(t.parts) == first {
				t.parts = append(t.parts, part{enc: encText, src: srcLit})
			}
			if _, dup := names[name]; dup {
				return nil, c.errf(fn, "name each field once", "two fields are named %s", name)
			}
			names[name] = [2]int{first, len(t.parts) - 1}
		}
	}
	alls := 0
	for _, l := range lens {
		p := &t.parts[l.part]
		switch l.target {
		case "rest":
			p.ref = lenRest
		case "all":
			if p.enc != encUint {
				return nil, c.errf(l.node, "measure all with a fixed-size field (u16, u32 …)", "len(all) in a %s field counts itself", encName(p.enc))
			}
			p.ref = lenAll
			if alls++; alls > maxAll {
				return nil, c.errf(l.node, fmt.Sprintf("give at most %d", maxAll), "too many len(all) fields")
			}
		default:
			span, ok := names[l.target]
			if !ok || span[0] <= l.part {
				return nil, c.errf(l.node, "name a later field (name: body) or use len(rest) or len(all)", "len(%s): no field named %s after this one", l.target, l.target)
			}
			p.from, p.ref = span[0], span[1]
		}
	}
	for _, l := range lens {
		p := &t.parts[l.part]
		if p.enc == encUint {
			continue
		}
		end := len(t.parts) - 1
		if p.ref >= 0 {
			end = p.ref
		}
		for j := l.part + 1; j <= end; j++ {
			if q := t.parts[j]; q.src == srcLen && q.ref == lenAll {
				return nil, c.errf(l.node, "measure with a fixed-size field (u8 … u64), or move len(all) out of what it measures", "a %s length cannot cover a len(all) field", encName(p.enc))
			}
		}
	}
	return t, nil
}

func encName(e uint8) string {
	if e == encVarint {
		return "varint"
	}
	return "decimal"
}

var lenExpr = regexp.MustCompile(`^len\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*(?:([+-])\s*(\d+))?$`)

// value reads a numeric field's value: a number, one placeholder, or
// len(TARGET)±N (the target is returned).
func (c *compiler) value(p *part, n *yaml.Node, builtins []string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", c.errf(n, "give a number, a placeholder such as \"{seq}\", or len(rest)", "a field's value must be a scalar")
	}
	s := strings.TrimSpace(n.Value)
	if m := lenExpr.FindStringSubmatch(s); m != nil {
		p.src = srcLen
		if m[3] != "" {
			a, _ := strconv.ParseInt(m[3], 10, 64)
			if m[2] == "-" {
				a = -a
			}
			p.adjust = a
		}
		return m[1], nil
	}
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		name := s[1 : len(s)-1]
		if err := c.placeholder(p, n, name, builtins); err != nil {
			return "", err
		}
		if p.src == srcBuiltin && (p.ref == bToken || p.ref == bJWT) {
			return "", c.errf(n, "put {"+name+"} in a text field", "{%s} is text, not a number", name)
		}
		return "", nil
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return "", c.errf(n, "give a number (0x1f for hex), a placeholder such as \"{seq}\", or len(rest)+N", "%q is not a field value", s)
	}
	if p.enc == encUint && p.size < 8 && v >= 1<<(8*p.size) {
		return "", c.errf(n, "give a smaller value or a wider field", "%d does not fit in %d bytes", v, p.size)
	}
	p.src, p.n = srcLit, v
	return "", nil
}

// placeholder resolves {name} in a template: a built-in allowed here or a
// variable known here.
func (c *compiler) placeholder(p *part, n *yaml.Node, name string, builtins []string) error {
	for _, b := range builtins {
		if b == name {
			p.src, p.ref = srcBuiltin, builtinIndex(name)
			if name == "jwt" && c.s.JWT == nil {
				return c.errf(n, "add a jwt: section (secret, claims)", "{jwt} without a jwt: section")
			}
			c.tpl.token = c.tpl.token || name == "token"
			c.tpl.jwt = c.tpl.jwt || name == "jwt"
			return nil
		}
	}
	if c.known[name] {
		p.src, p.ref = srcVar, c.s.VarIndex(name)
		return nil
	}
	var names []string
	for _, b := range builtins {
		names = append(names, "{"+b+"}")
	}
	var vars []string
	for k := range c.known {
		vars = append(vars, "{"+k+"}")
	}
	sort.Strings(vars)
	names = append(names, vars...)
	fix := "known here: " + strings.Join(names, ", ")
	if builtinIndex(name) >= 0 || c.s.VarIndex(name) >= 0 {
		fix = "{" + name + "} is not available in this template; " + fix
	} else {
		fix = "capture it in an earlier step's expect (capture: {" + name + ": …}), or " + fix
	}
	return c.errf(n, fix, "unknown variable {%s}", name)
}

// text compiles text with {placeholders}; a brace that does not open a
// {name} is literal.
func (c *compiler) text(t *Template, n *yaml.Node, s string, builtins []string) error {
	lit := []byte{}
	flush := func() {
		if len(lit) > 0 {
			t.parts = append(t.parts, part{enc: encText, src: srcLit, lit: lit})
			lit = []byte{}
		}
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			lit = append(lit, s...)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		name := ""
		if j > 0 {
			name = s[i+1 : i+j]
		}
		if j < 0 || !varName.MatchString(name) {
			lit = append(lit, s[:i+1]...)
			s = s[i+1:]
			continue
		}
		lit = append(lit, s[:i]...)
		flush()
		p := part{enc: encText}
		if err := c.placeholder(&p, n, name, builtins); err != nil {
			return err
		}
		t.parts = append(t.parts, p)
		s = s[i+j+1:]
	}
	flush()
	if len(t.parts) == 0 {
		t.parts = append(t.parts, part{enc: encText, src: srcLit})
	}
	return nil
}

func decodeHex(s string) ([]byte, error) {
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s)
	if len(s)%2 != 0 {
		return nil, errors.New("an odd number of digits")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%q is not a hex byte", s[2*i:2*i+2])
		}
		out[i] = byte(v)
	}
	return out, nil
}
