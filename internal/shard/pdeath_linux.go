package shard

import (
	"os/exec"
	"syscall"
)

// SetParentDeathSignal makes the kernel send SIGTERM to the child if the
// parent dies without stopping it (SIGKILL, crash).
func SetParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
