// Package lifecycle is the one supervisor of a run: every run — a swarm in
// this process, a group of swarm shards, a set of agents, a sharded
// gateway — goes through the same phases (stats.PhasePlan, PhaseRamp,
// PhaseHold, PhaseClose, PhaseDone) and obeys the same typed control words
// (Command). A Supervisor drives one Part through ramp → hold → quiet →
// drain → close; Obey is the other end, the loop of a part that runs in a
// child process and takes its commands from its parent.
//
// The package knows nothing of connections: a Part says whether its ramp
// is over and whether anything is still in flight, and obeys commands.
package lifecycle

import (
	"fmt"

	"github.com/imtool/imtool/internal/stats"
)

// Command is a control word a supervisor gives the parts of a run: on a
// shard's control line, in the agents' HTTP API, to a swarm in this process.
type Command string

// The control words. A part obeys each one at any time; a command that
// does not apply to it (Pause to a gateway) is ignored.
const (
	// Stop ends the part. To a Supervisor: end the hold, quiet, drain, close
	// (a graceful end). To a Part: close every connection now — the
	// supervisor has quieted and drained it first.
	Stop Command = "stop"
	// Quiet stops sending messages (heartbeats go on): the first half of a
	// stop, so every part's messages arrive before any part closes.
	Quiet  Command = "quiet"
	Pause  Command = "pause"  // pause the ramp; held connections stay
	Resume Command = "resume" // resume the ramp
)

// Commands are every control word, for messages and checks.
var Commands = []Command{Stop, Quiet, Pause, Resume}

// ParseCommand reads a control word.
func ParseCommand(s string) (Command, error) {
	for _, c := range Commands {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown command %q: give %s, %s, %s or %s", s, Stop, Quiet, Pause, Resume)
}

// Run is a running part as its supervisor, parent or coordinator sees it:
// it obeys commands, tells how it is, and says when it has ended.
type Run interface {
	Command(Command)
	Snapshot() stats.Snapshot
	Done() <-chan struct{} // closed once every connection is closed
}

// PastRamp says whether a run in phase has finished its ramp (it holds, or
// it is closing or done).
func PastRamp(phase string) bool {
	return phase == stats.PhaseHold || phase == stats.PhaseClose || phase == stats.PhaseDone
}
