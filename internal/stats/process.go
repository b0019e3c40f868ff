package stats

import (
	"os"
	"runtime"
	"runtime/metrics"
)

// ReadProcess fills p with this process's resource use: RSS, heap, open fds
// and their limit, goroutines and CPU time. Values the OS cannot tell stay 0.
func ReadProcess() Process {
	p := Process{PID: os.Getpid(), Goroutines: int64(runtime.NumGoroutine()), Processes: 1}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		p.HeapBytes = int64(samples[0].Value.Uint64())
	}
	readOSProcess(&p)
	return p
}
