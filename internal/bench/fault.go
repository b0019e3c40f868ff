package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// Fault is one scheduled fault of `bench --fault`:
//
//	kill-gateway:N@T      SIGKILL gateway shard N at T into the hold; its parent starts it again
//	kill-dispatcher@T     SIGKILL the dispatcher at T; bench starts it again on the same address
//	stop-gateway:N@T+D    SIGSTOP gateway shard N at T, SIGCONT at T+D
//	stop-dispatcher@T+D   SIGSTOP the dispatcher at T, SIGCONT at T+D
//
// Shards are numbered from 0, as their gateway ids (gw-0, gw-1, …) are.
type Fault struct {
	Spec  string
	Kind  string        // stats.Fault*
	Shard int           // gateway faults
	At    time.Duration // into the hold
	For   time.Duration // stop faults: how long the process stays stopped
}

// FaultUsage is the grammar, for flag help and errors.
const FaultUsage = "kill-gateway:N@T, kill-dispatcher@T, stop-gateway:N@T+D or stop-dispatcher@T+D (T into the hold, e.g. kill-gateway:1@30s)"

// ParseFault reads one --fault.
func ParseFault(spec string) (Fault, error) {
	spec = strings.TrimSpace(spec)
	f := Fault{Spec: spec}
	bad := func(format string, args ...any) (Fault, error) {
		return Fault{}, fmt.Errorf("--fault %q: %s; give %s", spec, fmt.Sprintf(format, args...), FaultUsage)
	}
	what, when, ok := strings.Cut(spec, "@")
	if !ok {
		return bad("no @ before the time")
	}
	kind, shard, hasShard := strings.Cut(what, ":")
	f.Kind = kind
	var gateway, stop bool
	switch kind {
	case stats.FaultKillGateway:
		gateway = true
	case stats.FaultStopGateway:
		gateway, stop = true, true
	case stats.FaultKillDispatcher:
	case stats.FaultStopDispatcher:
		stop = true
	default:
		return bad("unknown fault %q", kind)
	}
	switch {
	case gateway && !hasShard:
		return bad("which gateway shard? add :N (from 0)")
	case gateway:
		n, err := strconv.Atoi(shard)
		if err != nil || n < 0 {
			return bad("gateway shard %q is not a number ≥ 0", shard)
		}
		f.Shard = n
	case hasShard:
		return bad("the dispatcher is one process: no :%s", shard)
	}
	at, dur, hasDur := strings.Cut(when, "+")
	var err error
	if f.At, err = time.ParseDuration(at); err != nil || f.At < 0 {
		return bad("%q is not a time ≥ 0 such as 30s", at)
	}
	switch {
	case stop && !hasDur:
		return bad("how long stopped? add +D, e.g. @30s+5s")
	case stop:
		if f.For, err = time.ParseDuration(dur); err != nil || f.For <= 0 {
			return bad("%q is not a duration > 0 such as 5s", dur)
		}
	case hasDur:
		return bad("a kill has no duration (+%s): the process is started again at once", dur)
	}
	return f, nil
}

// ParseFaults reads every --fault and checks each falls within the hold
// (hold 0: until Ctrl-C).
func ParseFaults(specs []string, hold time.Duration) ([]Fault, error) {
	var out []Fault
	for _, s := range specs {
		f, err := ParseFault(s)
		if err != nil {
			return nil, err
		}
		if hold > 0 && f.At >= hold {
			return nil, fmt.Errorf("--fault %q comes at %v into a hold of %v (--hold): give an earlier time or a longer hold, with time left to recover", f.Spec, f.At, hold)
		}
		out = append(out, f)
	}
	return out, nil
}

// checkShards says which fault names a gateway shard the run does not have.
func checkShards(faults []Fault, shards int) error {
	for _, f := range faults {
		if (f.Kind == stats.FaultKillGateway || f.Kind == stats.FaultStopGateway) && f.Shard >= shards {
			return fmt.Errorf("--fault %q: the gateway has %d shards (0 to %d): give one of those, or more shards with --gateway-procs", f.Spec, shards, shards-1)
		}
	}
	return nil
}
