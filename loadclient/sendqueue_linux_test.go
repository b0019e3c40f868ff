//go:build linux

package loadclient

import (
	"testing"
	"time"
)

// TestSendQueueBounded: against a server that accepts and never reads, the
// epoll swarm's messages stop at a bounded queue per connection: what it
// counts as sent is written or was queued within maxQueued (and one more message), the rest is
// counted as unsent, and memory does not grow with the message rate.
func TestSendQueueBounded(t *testing.T) {
	srv := newSink(t)
	const conns, payload = 10, 60000
	sw, errc := startSwarm(t, Options{Targets: []string{srv.addr()}, Conns: conns, Proto: ProtoRaw,
		MsgRate: 2000, Payload: payload, Hold: 2 * time.Second, Procs: 1, Engine: EngineEpoll})
	waitRun(t, errc, 30*time.Second)
	s := sw.Final()
	maxQueued := int64(max(64<<10, 2*(64+payload)))
	queued := s.Sent*payload - s.BytesOut
	t.Logf("sent %d (%d bytes written), unsent %d, queued at most %d bytes per connection", s.Sent, s.BytesOut, s.Unsent, maxQueued)
	if s.Unsent == 0 {
		t.Error("nothing counted as unsent against a server that never reads")
	}
	if queued > conns*(maxQueued+payload) { // a message is queued while the queue is under its bound
		t.Errorf("%d bytes counted as sent but neither written nor within the queues' bound (%d per connection)", queued, maxQueued+payload)
	}
}
