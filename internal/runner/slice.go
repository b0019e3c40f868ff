package runner

import (
	"io"

	"github.com/imtool/imtool/loadclient"
)

// Slice is a plan slice running on this host for `imtool agent`: in this
// process or sharded over several, exactly as `imtool swarm` runs it. It
// satisfies agent.Run.
type Slice struct {
	source
	plan *loadclient.Plan
}

// StartSlice plans o on this host and starts it; shards' stderr goes to
// stderr. Its hold (o.Hold > 0) is timed by its supervisor, in this
// process or, sharded, by the group's.
func StartSlice(o loadclient.Options, stderr io.Writer) (*Slice, error) {
	env := loadclient.ReadEnv()
	plan, err := loadclient.NewPlan(o, env)
	if err != nil {
		return nil, err
	}
	s := &Slice{plan: plan}
	if plan.Procs > 1 {
		s.source, err = startGroup(Options{Swarm: o, Stderr: stderr}, plan)
	} else {
		s.source, err = startLocal(o, env)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Describe is the slice's plan in words.
func (s *Slice) Describe() string { return s.plan.Describe() }
