//go:build !linux

package shard

import "os/exec"

// SetParentDeathSignal: only Linux has it; elsewhere children notice the
// parent is gone when their standard input closes.
func SetParentDeathSignal(*exec.Cmd) {}

// lowerPriority: shards run at their parent's priority here.
func lowerPriority(int) {}
