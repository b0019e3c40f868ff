//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package refserver

import "errors"

func writeFD(int, []byte) (int, bool, error) {
	return 0, false, errors.New("the gateway needs Linux or BSD")
}

func lingerClose(int) {}
