package runner

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
)

// printHosts writes the per-host summary after the run's.
func printHosts(w io.Writer, hosts []agent.HostResult) {
	fmt.Fprintln(w, "\nper agent host")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  agent\thost\tconns\testablished\theld\tdropped\terrors\tstate\t")
	var lost []string
	for _, h := range hosts {
		var errs int64
		for _, n := range h.Errors {
			errs += n
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", h.Agent, h.Hostname, h.Conns, h.Established, h.Held, h.Dropped, errs, h.State)
		if h.State == agent.HostLost {
			lost = append(lost, fmt.Sprintf("  LOST %s (%s) at %.1fs: %s; its last numbers are shown, its %d held connections count as dropped (%s)",
				h.Agent, h.Hostname, h.LostAtS, h.Lost, h.Held, agent.DropLost))
		}
	}
	_ = tw.Flush()
	if len(lost) > 0 {
		fmt.Fprintln(w, strings.Join(lost, "\n"))
	}
}

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
