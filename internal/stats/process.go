package stats

import (
	"os"
	"runtime"
	"runtime/metrics"
)

// UserBytes is the memory that grows with connections: private memory, or
// RSS where the OS (or an older record) does not tell it apart. RSS counts
// the binary's pages in every process although there is one copy of them:
// across the shards of a million-connection bench that was 40–55 B per
// connection of growth (swarm 246 B by RSS, 191 B private), as each shard
// ran more of its code.
func (p Process) UserBytes() int64 {
	if p.PrivateBytes > 0 {
		return p.PrivateBytes
	}
	return p.RSSBytes
}

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
