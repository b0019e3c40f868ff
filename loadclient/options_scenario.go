package loadclient

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/scenario"
)

// ProtoScenario is a gateway's own protocol, taught by a scenario file
// (Options.Scenario, docs/SCENARIOS.md).
const ProtoScenario = "scenario"

// ScenarioFile is a scenario file as it travels with the options to shards
// and agents: its name (for errors) and its text, compiled by each process.
type ScenarioFile struct {
	Name   string
	Source []byte
}

// LoadScenario reads and checks the scenario file at path for
// Options.Scenario.
func LoadScenario(path string) (*ScenarioFile, *scenario.Scenario, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--scenario: %w", err)
	}
	s, err := scenario.Parse(path, src)
	if err != nil {
		return nil, nil, err
	}
	return &ScenarioFile{Name: path, Source: src}, s, nil
}

// compileScenario compiles o.Scenario.
func compileScenario(o Options) (*scenario.Scenario, error) {
	return scenario.Parse(o.Scenario.Name, o.Scenario.Source)
}

// applyScenario makes o run the scenario s: its protocol, the transport's
// scheme on targets that name none, and its WebSocket upgrade where the
// flags leave it open.
func applyScenario(o Options, s *scenario.Scenario) (Options, error) {
	if o.Proto != "" && o.Proto != ProtoIMTool && o.Proto != ProtoScenario {
		return o, fmt.Errorf("--proto %s and --scenario: the scenario is the protocol, leave --proto out", o.Proto)
	}
	first := o.Proto != ProtoScenario // the options of a shard or agent were applied already
	o.Proto = ProtoScenario
	if len(o.Targets) == 0 {
		o.Targets = []string{DefaultTarget}
	}
	targets := make([]string, len(o.Targets))
	for i, t := range o.Targets {
		sc, _, hasScheme := strings.Cut(t, "://")
		switch {
		case !hasScheme && s.Transport != scenario.TCP:
			t = s.Transport + "://" + t
			if s.IsWS() && s.WS.Path != "" && !strings.Contains(strings.TrimPrefix(t, s.Transport+"://"), "/") {
				t += s.WS.Path
			}
		case hasScheme && sc != s.Transport && !(sc == scenario.TLS && s.Transport == scenario.TCP) && !(sc == scenario.WSS && s.Transport == scenario.WS):
			return o, fmt.Errorf("--target %s: the scenario %s runs over %s: give the target as %s://… or without a scheme", t, o.Scenario.Name, s.Transport, s.Transport)
		}
		targets[i] = t
	}
	o.Targets = targets
	if s.IsWS() && first {
		if o.WSSubprotocol == "" {
			o.WSSubprotocol = s.WS.Subprotocol
		}
		o.Headers = append(append([]string(nil), s.WS.Headers...), o.Headers...)
		o.WSBinary = o.WSBinary || s.WS.Binary
	}
	return o, nil
}

// CheckScenario writes what connection 0 of o's scenario would send (uid
// --uid-base, messages to the next uid), without dialing.
func CheckScenario(w io.Writer, o Options) error {
	s, err := compileScenario(o)
	if err != nil {
		return err
	}
	uid := max(o.UIDBase, 1)
	now := time.Now()
	v := scenario.NewValues(s)
	v.UID, v.I, v.Peer, v.Seq = uid, 0, uid+1, 1
	v.TS, v.Unix = uint64(now.UnixNano()), uint64(now.Unix())
	s.Check(w, v, o.AuthSecret)
	return nil
}

// ScenarioWS tells whether o runs a scenario over WebSocket.
func (o Options) ScenarioWS() bool {
	if o.Scenario == nil {
		return false
	}
	s, err := compileScenario(o)
	return err == nil && s.IsWS()
}
