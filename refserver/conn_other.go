//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package refserver

import (
	"errors"

	"github.com/tidwall/evio"
)

// fdOf: evio has no event loop of its own on this OS, so the gateway does
// not run here (NewGateway refuses).
func fdOf(evio.Conn) int { return -1 }

func writeFD(int, []byte) (int, bool, error) {
	return 0, false, errors.New("the gateway needs Linux or BSD")
}

func lingerClose(int) {}

func fdLimit() (int, error) { return 0, errors.New("the gateway needs Linux or BSD") }

// loopOf: see fdOf.
func loopOf(evio.Conn) int { return 0 }
