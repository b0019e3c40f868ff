// Package scenario reads a scenario file, which teaches the swarm a
// gateway's own protocol, and compiles it into what the swarm's event loops
// run per connection without allocating: a framer that cuts the byte stream
// into the server's frames, templates that build the frames the client
// sends, and matchers that recognise the frames the server sends among
// everything that arrives. docs/SCENARIOS.md is the reference.
//
// A scenario describes:
//   - the transport (tcp, tls, ws, wss) and the framing: a line ending, a
//     length prefix (1/2/4/8 bytes or a varint, either byte order, at an
//     offset, counting the header or not, with an adjustment), a control
//     line whose last field announces a body (NATS), or one WebSocket
//     message each;
//   - the steps on open: send, expect (with its own timeout), capture into
//     per-connection variables; the connection is held when the step marked
//     held (or the last one) has passed;
//   - heartbeats both ways: a frame sent every --heartbeat timed to the
//     reply that matches, and server pings answered at once;
//   - messages: a frame sent to {peer} at --msg-rate, the sender's
//     acknowledgement and the recipient's delivery, each timed;
//   - error rules: a frame (or a WebSocket close code) that names an error
//     class with the user's own fix.
package scenario

import (
	"fmt"
	"time"
)

// Transports.
const (
	TCP = "tcp"
	TLS = "tls"
	WS  = "ws"
	WSS = "wss"
)

// Scenario is a compiled scenario file.
type Scenario struct {
	File      string
	Name      string
	Transport string // TCP, TLS, WS or WSS
	WS        WSConfig
	Framing   Framing
	Steps     []Step
	Heartbeat *Heartbeat // nil: the client sends none
	Answers   []Answer
	Message   *Message // nil: --msg-rate has nothing to send
	Errors    []ErrorRule
	// Vars names every variable: captured ones (persistent when a step on
	// open captures them) and the built-in captures ts, tid, seq.
	Vars []Var
	// Persistent are the indexes in Vars of the variables a connection
	// keeps from its steps on open for later templates, in order.
	Persistent []int
	// TokenSecret makes {token} (hex HMAC-SHA256 of the decimal uid); ""
	// takes the swarm's --auth-secret.
	TokenSecret string
	JWT         *JWT // {jwt}; nil when the file has none
}

// WSConfig is the WebSocket upgrade a ws or wss scenario asks for.
type WSConfig struct {
	Path        string
	Headers     []string
	Subprotocol string
	Binary      bool // send binary messages (default text)
}

// IsWS tells whether the scenario runs over WebSocket.
func (s *Scenario) IsWS() bool { return s.Transport == WS || s.Transport == WSS }

// Step is one step on open: a frame sent, a frame expected, or both (the
// send first).
type Step struct {
	Pos     Pos
	Send    *Template
	Expect  *Matcher
	Timeout time.Duration // 0: --login-timeout
	Held    bool          // the connection is held once this step has passed
}

// Describe names the step for an error: "step 2 (line 14): expect prefix "PONG"".
func (st *Step) Describe(i int) string {
	s := fmt.Sprintf("step %d (line %d)", i+1, st.Pos.Line)
	if st.Expect != nil {
		s += ": expect " + st.Expect.Desc
	}
	return s
}

// Heartbeat is what the client sends every --heartbeat and the reply that
// times it.
type Heartbeat struct {
	Send  *Template
	Reply *Matcher // nil: heartbeats are not timed
}

// Answer is a server-sent frame (a ping) answered at once.
type Answer struct {
	Match *Matcher
	Send  *Template // nil: counted, nothing sent
}

// Message is what --msg-rate sends and how its answers are recognised.
type Message struct {
	Send    *Template
	Ack     *Matcher // the sender's acknowledgement; nil: none awaited
	Deliver *Matcher // the recipient's delivery; nil: not counted
}

// ErrorRule names the error class of a matching frame.
type ErrorRule struct {
	Match *Matcher
	Class string
	Fix   string
}

// Var is a variable a matcher captures and templates use.
type Var struct {
	Name string
}

// Built-in capture names: a matcher that captures one of these gives the
// time or sequence the engine measures with.
const (
	CapTS  = "ts"  // unix ns, as {ts} sent it
	CapTID = "tid" // {tid}: µs since the swarm started, mod 2^32
	CapSeq = "seq" // {seq}
	// CapMID is {mid}: a message's id, unique in the swarm; a delivery
	// that captures it is checked for duplicates.
	CapMID = "mid"
)

// Pos is a place in the scenario file.
type Pos struct{ Line, Col int }

// Error is a mistake in a scenario file, at file:line:col, with its fix.
type Error struct {
	File string
	Pos  Pos
	Msg  string
	Fix  string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
	if e.Fix != "" {
		s += ": " + e.Fix
	}
	return s
}

// VarIndex is the index in s.Vars of the variable name, or -1.
func (s *Scenario) VarIndex(name string) int {
	for i, v := range s.Vars {
		if v.Name == name {
			return i
		}
	}
	return -1
}
