package lifecycle

import (
	"time"

	"github.com/imtool/imtool/internal/stats"
)

// PublishEvery is how often a part in a child process tells its parent
// how it is.
const PublishEvery = time.Second

// Obey is the loop of a part run by another process (a shard, through
// internal/shard): it gives r every command that arrives on cmds,
// publishes r's snapshot every PublishEvery, and returns once r is done.
// When cmds closes — the parent is gone — r is told to Stop, so a part
// never outlives its parent. The caller publishes the first and the final
// snapshots.
func Obey(cmds <-chan Command, publish func(stats.Snapshot), r Run) {
	tick := time.NewTicker(PublishEvery)
	defer tick.Stop()
	for {
		select {
		case c, ok := <-cmds:
			if !ok {
				cmds = nil
				c = Stop
			}
			r.Command(c)
		case <-tick.C:
			publish(r.Snapshot())
		case <-r.Done():
			return
		}
	}
}
