//go:build !unix

package loadclient

import "runtime"

func nofileLimit() int64 { return 0 }

func cpus() int { return runtime.NumCPU() }
