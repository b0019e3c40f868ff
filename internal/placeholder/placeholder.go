// Package placeholder fills per-connection and per-message values into
// user-given text: WebSocket paths and headers ({uid}, {i}) and message
// payloads ({uid}, {seq}, {ts}). A template is parsed once; filling it
// appends to a buffer and allocates nothing.
package placeholder

import (
	"fmt"
	"strconv"
	"strings"
)

// Values are what placeholders stand for.
type Values struct {
	UID uint64 // {uid}: the connection's user id
	I   uint64 // {i}: the connection's index in the swarm
	Seq uint64 // {seq}: the message's number, unique per sending event loop
	TS  uint64 // {ts}: the message's planned send time, unix ns
	// {peer}: the index of the connection a message is for (MQTT
	// --publish topics), drawn at random from the swarm per message
	Peer uint64
}

// Names of the placeholders.
const (
	UID = "uid"
	I   = "i"
	Seq = "seq"
	TS  = "ts"
	// Peer is the index of a message's recipient (MQTT topics).
	Peer = "peer"
)

type part struct {
	lit  string
	name string // "" for a literal part
}

// Template is parsed text with placeholders.
type Template struct {
	parts []part
}

// Parse reads s, where {name} is a placeholder for one of allowed; any
// other {…} is an error naming the allowed ones, so a typo is not sent as
// text. A brace that does not open a {name} is literal.
func Parse(s string, allowed ...string) (Template, error) {
	var t Template
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		j := -1
		if i >= 0 {
			j = strings.IndexByte(s[i:], '}')
		}
		if i < 0 || j < 0 {
			t.add(part{lit: s})
			break
		}
		name := s[i+1 : i+j]
		if name == "" || strings.ContainsAny(name, " {") {
			t.add(part{lit: s[:i+1]})
			s = s[i+1:]
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return Template{}, fmt.Errorf("placeholder {%s} is not known here: use %s", name, list(allowed))
		}
		if i > 0 {
			t.add(part{lit: s[:i]})
		}
		t.add(part{name: name})
		s = s[i+j+1:]
	}
	return t, nil
}

func (t *Template) add(p part) {
	if p.name == "" && len(t.parts) > 0 && t.parts[len(t.parts)-1].name == "" {
		t.parts[len(t.parts)-1].lit += p.lit
	} else {
		t.parts = append(t.parts, p)
	}
}

func list(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{" + n + "}")
	}
	return b.String()
}

// Append appends the template filled with v.
func (t *Template) Append(dst []byte, v *Values) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		switch p.name {
		case "":
			dst = append(dst, p.lit...)
		case UID:
			dst = strconv.AppendUint(dst, v.UID, 10)
		case I:
			dst = strconv.AppendUint(dst, v.I, 10)
		case Seq:
			dst = strconv.AppendUint(dst, v.Seq, 10)
		case TS:
			dst = strconv.AppendUint(dst, v.TS, 10)
		case Peer:
			dst = strconv.AppendUint(dst, v.Peer, 10)
		}
	}
	return dst
}

// Has tells whether the template uses placeholder name.
func (t *Template) Has(name string) bool {
	for _, p := range t.parts {
		if p.name == name {
			return true
		}
	}
	return false
}

// Prefix is the literal text before placeholder name when only literal
// text precedes it: where a reader finds the value again in filled text.
func (t *Template) Prefix(name string) (string, bool) {
	lit := ""
	for _, p := range t.parts {
		switch p.name {
		case "":
			lit += p.lit
		case name:
			return lit, true
		default:
			return "", false
		}
	}
	return "", false
}
