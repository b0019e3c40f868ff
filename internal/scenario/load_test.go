package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every shipped example compiles.
func TestExamplesCompile(t *testing.T) {
	files, _ := filepath.Glob("../../examples/protocols/*.yaml")
	if len(files) < 5 {
		t.Fatalf("%d examples under examples/protocols", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(f, src); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// A bad file is an *Error at the line and column of the mistake, with the
// fix.
func TestBadFiles(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		line, col int
		msg, fix  string
	}{
		{"syntax", "name: x\n  framing: line\nopen: 1\n", 2, 1, "not valid YAML: mapping values are not allowed", "indentation"},
		{"unknown top field", "name: x\nframings: line\n", 2, 1, `unknown field "framings"`, "did you mean framing?"},
		{"unknown step field", "framing: line\nopen:\n  - sned: hi\n", 3, 5, `unknown field "sned"`, "did you mean send?"},
		{"no framing", "name: x\nopen:\n  - send: hi\n", 1, 1, "needs framing", "framing: line"},
		{"unknown variable", "framing: line\nopen:\n  - send: 'hello {user}'\n", 3, 11, "unknown variable {user}", "capture it in an earlier step"},
		{"variable before its capture", "framing: line\nopen:\n  - send: 'x {sid}'\n  - expect: {regex: '^OK (?P<sid>\\w+)'}\n", 3, 11, "unknown variable {sid}", "capture"},
		{"peer outside messages", "framing: line\nopen:\n  - send: 'to {peer}'\n", 3, 11, "unknown variable {peer}", "not available in this template"},
		{"bad regex", "framing: line\nopen:\n  - expect: {regex: 'a(b'}\n", 3, 21, "does not compile", "RE2"},
		{"bad json matcher", "framing: line\nopen:\n  - expect: {json: [a]}\n", 3, 20, "json must be a mapping", "path: value"},
		{"len of nothing", "framing: line\nopen:\n  - send:\n      - u32: len(body)\n      - text: x\n", 4, 14, "no field named body", "len(rest)"},
		{"value too wide", "framing: line\nopen:\n  - send:\n      - u8: 300\n", 4, 13, "does not fit", "wider field"},
		{"bad field kind", "framing: line\nopen:\n  - send:\n      - u31: 1\n", 4, 9, `unknown field kind "u31"`, "did you mean u32?"},
		{"bad class", "framing: line\nerrors:\n  - match: X\n    class: Auth Refused\n", 4, 12, "not a class name", "lowercase"},
		{"bad duration", "framing: line\nopen:\n  - expect: OK\n    timeout: 5\n", 4, 14, "not a duration", "5s"},
		{"jwt without section", "framing: line\nopen:\n  - send: '{jwt}'\n", 3, 11, "{jwt} without a jwt: section", "add a jwt"},
		{"close on a tcp reply", "framing: line\nheartbeat:\n  send: PING\n  reply: {close: 3000}\n", 4, 18, "close: matches a WebSocket close", "errors:"},
		{"bad transport", "transport: udp\nframing: line\n", 1, 12, `unknown transport "udp"`, "tcp, tls, ws or wss"},
		{"empty", "", 1, 1, "empty", "examples/protocols"},
		{"varint over len(all)", "framing: line\nopen:\n  - send:\n      - varint: len(rest)\n      - u16: len(all)\n", 4, 17, "cannot cover a len(all)", "fixed-size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			if e.Pos.Line != tt.line || e.Pos.Col != tt.col || !strings.Contains(e.Msg, tt.msg) || !strings.Contains(e.Fix, tt.fix) {
				t.Errorf("got %v\nwant f.yaml:%d:%d: …%s…: …%s…", e, tt.line, tt.col, tt.msg, tt.fix)
			}
			if !strings.HasPrefix(e.Error(), "f.yaml:") {
				t.Errorf("the error does not start with the file: %v", e)
			}
		})
	}
}

// Steps: the held step defaults to the last; variables captured on open
// persist for later templates.
func TestSteps(t *testing.T) {
	s, err := Parse("f", []byte(`
framing: line
open:
  - expect: {regex: '^HELLO (?P<sid>\w+)'}
  - send: 'AUTH {sid} {uid}'
    expect: OK
  - send: 'SUB {sid}'
heartbeat:
  send: 'PING {sid}'
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != 3 || !s.Steps[2].Held || s.Steps[0].Held || len(s.Persistent) != 1 || s.Vars[s.Persistent[0]].Name != "sid" {
		t.Fatalf("steps %+v, persistent %v, vars %v", s.Steps, s.Persistent, s.Vars)
	}
	v := NewValues(s)
	if !s.Steps[0].Expect.Match(Frame{Data: []byte("HELLO abc12")}, &v) {
		t.Fatal("no match")
	}
	v.UID = 7
	if got := string(s.Steps[1].Send.Append(nil, &v)); got != "AUTH abc12 7" {
		t.Errorf("send %q", got)
	}
	if got := string(s.Heartbeat.Send.Append(nil, &v)); got != "PING abc12" {
		t.Errorf("heartbeat %q", got)
	}
	// Tokens are made only for the templates that use them.
	tok, err := Parse("f", []byte("framing: line\nopen:\n  - send: 'LOGIN {uid} {token}'\nheartbeat:\n  send: PING\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Steps[0].Send.UsesToken() || tok.Steps[0].Send.UsesJWT() || tok.Heartbeat.Send.UsesToken() {
		t.Error("UsesToken/UsesJWT do not say which templates use {token}")
	}
}
