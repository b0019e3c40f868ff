package shard

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// SetParentDeathSignal makes the kernel send SIGTERM to the child if the
// parent dies without stopping it (SIGKILL, crash).
func SetParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// shardNice is how much lower shards run than their parent: with a hundred
// busy shards on two cores, the parent that samples them (and the
// dispatcher) must still get the CPU on time.
const shardNice = 5

// lowerPriority renices a started child; failure only costs timeliness.
func lowerPriority(pid int) {
	if prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0); err == nil {
		// getpriority returns 20 - nice.
		_ = unix.Setpriority(unix.PRIO_PROCESS, pid, 20-prio+shardNice)
	}
}
