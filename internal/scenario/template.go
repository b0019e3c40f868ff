package scenario

import (
	"encoding/binary"
	"strconv"
)

// Values are what a template's placeholders stand for, for one frame. A
// loop keeps one and fills it per call; nothing in it is allocated per
// frame.
type Values struct {
	UID  uint64 // {uid}: the connection's user id
	I    uint64 // {i}: the connection's index in the swarm
	Seq  uint64 // {seq}: the frame's number, per connection or loop
	TS   uint64 // {ts}: the planned send time, unix ns
	TID  uint64 // {tid}: the planned send time as µs since the swarm started, mod 2^32
	Peer uint64 // {peer}: the uid a message is for
	Unix uint64 // {unix}: the wall clock, unix seconds
	MID  uint64 // {mid}: the message's id, unique in the swarm (messages only)
	// Token is {token}, JWT is {jwt}: made once per connection.
	Token, JWT []byte
	// Vars by index in Scenario.Vars: the text a matcher captured, or a
	// number (Num, when IsNum) a binary field held.
	Text  [][]byte
	Num   []uint64
	IsNum []bool
}

// NewValues makes values sized for s's variables.
func NewValues(s *Scenario) Values {
	n := len(s.Vars)
	return Values{Text: make([][]byte, n), Num: make([]uint64, n), IsNum: make([]bool, n)}
}

// SetText sets variable i to captured text.
func (v *Values) SetText(i int, b []byte) { v.Text[i], v.IsNum[i] = b, false }

// SetNum sets variable i to a number.
func (v *Values) SetNum(i int, n uint64) { v.Num[i], v.IsNum[i], v.Text[i] = n, true, nil }

// Number is variable i as a number (its text read as a decimal); ok false
// when it holds no digits.
func (v *Values) Number(i int) (uint64, bool) {
	if v.IsNum[i] {
		return v.Num[i], true
	}
	return parseUint(v.Text[i])
}

func parseUint(b []byte) (uint64, bool) {
	var n uint64
	d := 0
	for _, c := range b {
		if c < '0' || c > '9' || d == 20 {
			break
		}
		n, d = n*10+uint64(c-'0'), d+1
	}
	return n, d > 0
}

// Built-in placeholders.
const (
	bUID = iota
	bI
	bSeq
	bTS
	bTID
	bPeer
	bUnix
	bToken
	bJWT
	bTSMS
	bMID
	nBuiltins
)

var builtinNames = [nBuiltins]string{"uid", "i", "seq", "ts", "tid", "peer", "unix", "token", "jwt", "ts_ms", "mid"}

func builtinIndex(name string) int {
	for i, n := range builtinNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Encodings of a template part.
const (
	encText    = iota // bytes as they are; numbers in decimal
	encUint           // a fixed-size unsigned integer
	encVarint         // an unsigned LEB128 varint (protobuf)
	encDecimal        // a number in decimal text (a length in a text protocol)
)

// Value sources of a part.
const (
	srcLit = iota
	srcBuiltin
	srcVar
	srcLen
)

// Length targets.
const (
	lenRest = -1 // everything after this part
	lenAll  = -2 // the whole frame, this part included
)

type part struct {
	enc    uint8
	src    uint8
	size   uint8 // encUint: 1, 2, 4 or 8
	little bool
	lit    []byte // srcLit text
	n      uint64 // srcLit number
	ref    int    // srcBuiltin: builtin; srcVar: var index; srcLen: the measured field's last part, or lenRest/lenAll
	from   int    // srcLen of a named field: its first part
	adjust int64  // srcLen
}

// Template builds one frame. Text templates fill placeholders; binary ones
// are a list of fields, any of which may be the length of a later part.
type Template struct {
	parts      []part
	hasLen     bool
	token, jwt bool // it uses {token}, {jwt}: made per connection when it does
}

// Append appends the frame for v to dst. It allocates nothing once dst has
// room.
func (t *Template) Append(dst []byte, v *Values) []byte {
	if !t.hasLen {
		for i := range t.parts {
			dst = t.appendPart(dst, i, v)
		}
		return dst
	}
	var alls patches
	start := len(dst)
	dst = t.appendRange(dst, 0, len(t.parts), v, &alls)
	for k := 0; k < alls.n; k++ { // len(all): the whole frame, known now
		p := &t.parts[alls.part[k]]
		n := uint64(max(int64(len(dst)-start)+p.adjust, 0))
		t.encode(dst[alls.pos[k]:alls.pos[k]], p, n)
	}
	return dst
}

// maxAll bounds the len(all) fields of a template.
const maxAll = 4

// patches are the len(all) fields of one Append: where they are in dst.
type patches struct {
	n         int
	pos, part [maxAll]int
}

// appendRange appends parts [from, to). A fixed-size length is reserved
// in place and filled once its parts are built; a varint or decimal one,
// whose size depends on its value, is put in front of them after.
func (t *Template) appendRange(dst []byte, from, to int, v *Values, alls *patches) []byte {
	for i := from; i < to; i++ {
		p := &t.parts[i]
		if p.src != srcLen {
			dst = t.appendPart(dst, i, v)
			continue
		}
		at := len(dst)
		if p.ref == lenAll {
			alls.pos[alls.n], alls.part[alls.n] = at, i
			alls.n++
			dst = append(dst, make([]byte, p.size)...)
			continue
		}
		if p.enc == encUint {
			dst = append(dst, make([]byte, p.size)...)
		}
		body := len(dst)
		end := to
		var n int64
		if p.ref == lenRest {
			dst = t.appendRange(dst, i+1, to, v, alls)
			n = int64(len(dst) - body)
		} else {
			dst = t.appendRange(dst, i+1, p.from, v, alls)
			named := len(dst)
			dst = t.appendRange(dst, p.from, p.ref+1, v, alls)
			n = int64(len(dst) - named)
			end = p.ref + 1
		}
		n = max(n+p.adjust, 0)
		if p.enc == encUint {
			t.encode(dst[at:at], p, uint64(n))
		} else {
			var tmp [24]byte
			enc := t.encode(tmp[:0], p, uint64(n))
			dst = append(dst, enc...)
			copy(dst[at+len(enc):], dst[at:len(dst)-len(enc)])
			copy(dst[at:], enc)
		}
		i = end - 1
	}
	return dst
}

func (t *Template) appendPart(dst []byte, i int, v *Values) []byte {
	p := &t.parts[i]
	if p.enc == encText {
		switch p.src {
		case srcLit:
			return append(dst, p.lit...)
		case srcBuiltin:
			switch p.ref {
			case bToken:
				return append(dst, v.Token...)
			case bJWT:
				return append(dst, v.JWT...)
			}
			return strconv.AppendUint(dst, builtin(p.ref, v), 10)
		case srcVar:
			if v.IsNum[p.ref] {
				return strconv.AppendUint(dst, v.Num[p.ref], 10)
			}
			return append(dst, v.Text[p.ref]...)
		}
		return dst
	}
	var n uint64
	switch p.src {
	case srcLit:
		n = p.n
	case srcBuiltin:
		n = builtin(p.ref, v)
	case srcVar:
		n, _ = v.Number(p.ref)
	}
	return t.encode(dst, p, n)
}

func (t *Template) encode(dst []byte, p *part, n uint64) []byte {
	switch p.enc {
	case encVarint:
		return binary.AppendUvarint(dst, n)
	case encDecimal:
		return strconv.AppendUint(dst, n, 10)
	}
	var b [8]byte
	switch p.size {
	case 1:
		return append(dst, byte(n))
	case 2:
		if p.little {
			binary.LittleEndian.PutUint16(b[:], uint16(n))
		} else {
			binary.BigEndian.PutUint16(b[:], uint16(n))
		}
	case 4:
		if p.little {
			binary.LittleEndian.PutUint32(b[:], uint32(n))
		} else {
			binary.BigEndian.PutUint32(b[:], uint32(n))
		}
	default:
		if p.little {
			binary.LittleEndian.PutUint64(b[:], n)
		} else {
			binary.BigEndian.PutUint64(b[:], n)
		}
	}
	return append(dst, b[:p.size]...)
}

func builtin(b int, v *Values) uint64 {
	switch b {
	case bUID:
		return v.UID
	case bI:
		return v.I
	case bSeq:
		return v.Seq
	case bTS:
		return v.TS
	case bTID:
		return v.TID
	case bPeer:
		return v.Peer
	case bUnix:
		return v.Unix
	case bTSMS:
		return v.TS / 1e6
	case bMID:
		return v.MID
	}
	return 0
}

// UsesToken tells whether the template uses {token}; UsesJWT, {jwt}.
func (t *Template) UsesToken() bool { return t.token }

// UsesJWT tells whether the template uses {jwt}.
func (t *Template) UsesJWT() bool { return t.jwt }
