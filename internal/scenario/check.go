package scenario

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/imtool/imtool/internal/wire"
)

// Check writes what a connection would send, for a person checking a
// scenario before pointing it at a gateway: each step on open, the
// heartbeat and a message, built for v (uid, index, peer; tokens made
// from tokenSecret when the file gives none). Text is shown quoted, binary
// frames in hex with their length. Captured variables show as <name>.
func (s *Scenario) Check(w io.Writer, v Values, tokenSecret []byte) {
	if s.TokenSecret != "" {
		tokenSecret = []byte(s.TokenSecret)
	}
	v.Token = wire.NewTokenMaker(tokenSecret).Token(v.UID)
	if s.JWT != nil {
		v.JWT = append([]byte(nil), NewSigner(s.JWT).Token(&v)...)
	}
	for _, i := range s.Persistent {
		v.SetText(i, []byte("<"+s.Vars[i].Name+">"))
	}
	name := s.Name
	if name == "" {
		name = s.File
	}
	fmt.Fprintf(w, "scenario %s: %s, %s framing; uid %d (connection %d)\n", name, s.Transport, s.Framing.describe(), v.UID, v.I)
	for i := range s.Steps {
		st := &s.Steps[i]
		fmt.Fprintf(w, "  step %d (line %d)", i+1, st.Pos.Line)
		if st.Held {
			fmt.Fprint(w, ", held once passed")
		}
		fmt.Fprintln(w)
		if st.Send != nil {
			fmt.Fprintf(w, "    send   %s\n", show(st.Send, &v))
		}
		if st.Expect != nil {
			t := "--login-timeout"
			if st.Timeout > 0 {
				t = st.Timeout.String()
			}
			fmt.Fprintf(w, "    expect %s (within %s)\n", st.Expect.Desc, t)
		}
	}
	if h := s.Heartbeat; h != nil {
		fmt.Fprintf(w, "  heartbeat every --heartbeat\n    send   %s\n", show(h.Send, &v))
		if h.Reply != nil {
			fmt.Fprintf(w, "    reply  %s\n", h.Reply.Desc)
		}
	}
	for i, a := range s.Answers {
		fmt.Fprintf(w, "  answer %d: when the server sends %s\n", i+1, a.Match.Desc)
		if a.Send != nil {
			fmt.Fprintf(w, "    send   %s\n", show(a.Send, &v))
		}
	}
	if m := s.Message; m != nil {
		fmt.Fprintf(w, "  message at --msg-rate, to uid %d here\n    send   %s\n", v.Peer, show(m.Send, &v))
		if m.Ack != nil {
			fmt.Fprintf(w, "    ack    %s\n", m.Ack.Desc)
		}
		if m.Deliver != nil {
			fmt.Fprintf(w, "    deliver %s\n", m.Deliver.Desc)
		}
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "  error %s when %s", e.Class, e.Match.Desc)
		if e.Fix != "" {
			fmt.Fprintf(w, ": %s", e.Fix)
		}
		fmt.Fprintln(w)
	}
}

func show(t *Template, v *Values) string {
	b := t.Append(nil, v)
	if printable(b) {
		return strconv.Quote(string(b))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d bytes:", len(b))
	for i, c := range b {
		if i%4 == 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

func (f *Framing) describe() string {
	switch f.Kind {
	case FrameLine:
		return "line " + strconv.Quote(string(f.Delim))
	case FrameControl:
		return "control-line " + strconv.Quote(string(f.Delim))
	case FrameMessage:
		return "one frame per WebSocket message"
	}
	size := "varint"
	if f.Size > 0 {
		size = fmt.Sprintf("u%d", f.Size*8)
	}
	return fmt.Sprintf("length %s at %d, header %d", size, f.Offset, f.Header)
}

// printable tells whether b reads as text: UTF-8 without control bytes
// other than tab, CR and LF.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			return false
		}
	}
	return true
}
