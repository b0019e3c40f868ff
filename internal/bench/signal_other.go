//go:build !unix

package bench

import (
	"errors"
	"syscall"
)

// Faults stop and continue processes with signals that only Unix has.
const (
	sigKill = syscall.Signal(9)
	sigStop = syscall.Signal(19)
	sigCont = syscall.Signal(18)
)

func sendSignal(int, syscall.Signal, string) error {
	return errors.New("bench faults need Unix signals (SIGKILL, SIGSTOP, SIGCONT)")
}
