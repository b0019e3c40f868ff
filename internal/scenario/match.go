package scenario

import (
	"bytes"
	"encoding/binary"
	"regexp"
)

// Matcher recognises a frame by every condition it has (all must hold) and
// captures variables from it. Prefix, contains, json, field and after
// captures allocate nothing; a regular expression with named groups
// allocates its submatch indexes per match (docs/SCENARIOS.md).
type Matcher struct {
	Pos      Pos
	Desc     string // what it looks for, for errors: `prefix "PONG"`
	Prefix   []byte
	Contains []byte
	Equals   []byte
	Regex    *regexp.Regexp
	reVars   []int // per submatch: the variable it captures, -1 none
	reCaps   bool
	JSON     []jsonCond
	Fields   []fieldCond
	// Close matches a WebSocket close with this code instead of a frame
	// (error rules only); 0: frames.
	Close int
	Caps  []capture
}

type jsonCond struct {
	path []string
	want []byte
	any  bool // the key exists, whatever its value
}

type fieldCond struct {
	off, size int
	little    bool
	want      uint64
}

// Capture sources.
const (
	capJSON = iota
	capField
	capAfter
	capRest
)

type capture struct {
	v         int
	kind      int
	path      []string
	off, size int
	little    bool
	after     []byte
}

// Match tells whether f matches; when it does, its captures are in v.
func (m *Matcher) Match(f Frame, v *Values) bool {
	if m.Close != 0 {
		return false
	}
	d := f.Data
	if m.Prefix != nil && !bytes.HasPrefix(d, m.Prefix) {
		return false
	}
	if m.Equals != nil && !bytes.Equal(d, m.Equals) {
		return false
	}
	if m.Contains != nil && !bytes.Contains(d, m.Contains) {
		return false
	}
	for i := range m.Fields {
		c := &m.Fields[i]
		n, ok := field(d, c.off, c.size, c.little)
		if !ok || n != c.want {
			return false
		}
	}
	body := d[min(f.Body, len(d)):]
	for i := range m.JSON {
		c := &m.JSON[i]
		val, ok := jsonFind(body, c.path)
		if !ok || !c.any && !bytes.Equal(val, c.want) {
			return false
		}
	}
	if m.Regex != nil {
		if !m.reCaps {
			if !m.Regex.Match(d) {
				return false
			}
		} else {
			idx := m.Regex.FindSubmatchIndex(d)
			if idx == nil {
				return false
			}
			for g, vi := range m.reVars {
				if vi >= 0 && idx[2*g] >= 0 {
					v.SetText(vi, d[idx[2*g]:idx[2*g+1]])
				}
			}
		}
	}
	for i := range m.Caps {
		c := &m.Caps[i]
		switch c.kind {
		case capJSON:
			val, ok := jsonFind(body, c.path)
			if !ok {
				return false
			}
			v.SetText(c.v, val)
		case capField:
			n, ok := field(d, c.off, c.size, c.little)
			if !ok {
				return false
			}
			v.SetNum(c.v, n)
		case capAfter:
			i := bytes.Index(d, c.after)
			if i < 0 {
				return false
			}
			v.SetText(c.v, token(d[i+len(c.after):]))
		case capRest:
			if c.off > len(d) {
				return false
			}
			v.SetText(c.v, d[c.off:])
		}
	}
	return true
}

// MatchClose tells whether a WebSocket close with code matches.
func (m *Matcher) MatchClose(code int) bool { return m.Close != 0 && m.Close == code }

// token is the value at the start of b: a quoted string's content, or
// everything up to a JSON or text delimiter.
func token(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	if len(b) > 0 && b[0] == '"' {
		if e, ok := skipString(b, 0); ok {
			return b[1 : e-1]
		}
		return nil
	}
	j := 0
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n', '"', ';', '&':
			return b[:j]
		}
		j++
	}
	return b
}

// field reads an unsigned integer of size bytes (0: a varint) at off.
func field(d []byte, off, size int, little bool) (uint64, bool) {
	if off < 0 || off+max(size, 1) > len(d) {
		return 0, false
	}
	var o binary.ByteOrder = binary.BigEndian
	if little {
		o = binary.LittleEndian
	}
	switch size {
	case 0:
		n, k := binary.Uvarint(d[off:])
		return n, k > 0
	case 1:
		return uint64(d[off]), true
	case 2:
		return uint64(o.Uint16(d[off:])), true
	case 4:
		return uint64(o.Uint32(d[off:])), true
	}
	return o.Uint64(d[off:]), true
}

// Captures tells whether the matcher captures variable i.
func (m *Matcher) Captures(i int) bool {
	for _, c := range m.Caps {
		if c.v == i {
			return true
		}
	}
	for _, vi := range m.reVars {
		if vi == i {
			return true
		}
	}
	return false
}
