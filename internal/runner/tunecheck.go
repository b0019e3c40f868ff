package runner

import (
	"fmt"

	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/tuner"
)

// tuneCheck is `imtool tune check` for the run, one line per setting, for
// the record's environment: the swarm's side of the host (both ends for a
// bench, whose gateway runs here too). Nothing when the check cannot run
// here.
func tuneCheck(o Options, p *loadclient.Plan) []string {
	role := tuner.RoleClient
	if o.Command == "bench" {
		role = tuner.RoleBoth
	}
	t := tuner.Target{Role: role, Conns: p.Conns, Ports: o.Swarm.Ports, SourceIPs: max(len(p.Sources), 1),
		ServerIPs: 1, Headroom: tuner.DefaultHeadroom}
	rep, err := tuner.Check(tuner.Options{Root: "/", Target: t})
	if err != nil {
		return nil
	}
	lines := make([]string, 0, len(rep.Rows))
	for _, r := range rep.Rows {
		lines = append(lines, fmt.Sprintf("%s (%s): %s, required %s: %s", r.Name, r.Scope, r.Live, r.Required, r.Status))
	}
	return lines
}
