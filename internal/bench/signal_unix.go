//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

const (
	sigKill = syscall.SIGKILL
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
)

// sendSignal sends sig to process pid (what names it for the error).
func sendSignal(pid int, sig syscall.Signal, what string) error {
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("cannot send %v to %s (pid %d): %w", sig, what, pid, err)
	}
	return nil
}
