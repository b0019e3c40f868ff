package bench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/imtool/imtool/internal/host"
	"github.com/imtool/imtool/loadclient"
)

// A gateway answers each arrival at once unless told to batch (imtool
// server --batch). That costs a wake-up, and on a machine whose CPUs are
// shared by many processes a context switch, per arrival: at a million
// connections on two cores (about 110 shard processes), 16,700 PINGs a
// second cost the gateways about 0.2 core more than batching them into
// 5 ms windows, more than the machine has left. With --gateway-batch auto
// a bench batches when more than batchProcsPerCPU of its processes share
// each CPU, and says so; latencies then include the window's wait.
const (
	batchProcsPerCPU = 32
	autoBatch        = 5 * time.Millisecond
)

// GatewayBatch is the gateway's --batch for a bench of conns connections:
// setting is "auto" (or empty) or a duration ("0": answer at once). The
// note, when not empty, tells the person at the terminal what auto chose.
func GatewayBatch(setting string, conns int, root string) (time.Duration, string, error) {
	if setting != "" && setting != "auto" {
		d, err := time.ParseDuration(setting)
		if err != nil || d < 0 || d > time.Second {
			return 0, "", fmt.Errorf("--gateway-batch %q: give auto, 0 or a duration up to 1s (e.g. 5ms)", setting)
		}
		return d, "", nil
	}
	if root == "" {
		root = "/"
	}
	lim, err := host.ReadNofile(host.Root(root))
	if err != nil {
		return 0, "", fmt.Errorf("--gateway-batch auto: %w", err)
	}
	d, note := autoGatewayBatch(conns, lim.Soft, runtime.NumCPU())
	return d, note, nil
}

// autoGatewayBatch is --gateway-batch auto for conns connections, with
// RLIMIT_NOFILE nofile per process, on cpus CPUs.
func autoGatewayBatch(conns int, nofile int64, cpus int) (time.Duration, string) {
	// As many swarm shards as gateway shards: both ends hold conns sockets.
	procs := 2 * loadclient.AutoProcs(conns, nofile)
	if procs <= batchProcsPerCPU*cpus {
		return 0, ""
	}
	return autoBatch, fmt.Sprintf("about %d processes share %d CPUs: the gateway batches its arrivals into %v windows once busy, and latencies include that wait (--gateway-batch 0: answer at once)", procs, cpus, autoBatch)
}
