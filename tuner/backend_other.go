//go:build !linux && !windows

package tuner

import (
	"fmt"
	"runtime"
)

// newBackend reads a Linux root given with --root; this OS itself has no
// back end.
func newBackend(o Options) (backend, error) {
	if rootOrSlash(o.Root) == "/" {
		return nil, fmt.Errorf("imtool tune supports Linux and Windows, not %s: use `imtool tune script --os linux|windows` on the target host, or --root DIR to read a Linux root", runtime.GOOS)
	}
	return newLinux(rootFS{dir: o.Root, writeLive: o.writeLive}), nil
}
