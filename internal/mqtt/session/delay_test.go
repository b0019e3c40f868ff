package session

import (
	"testing"
	"time"

	"github.com/imtool/imtool/internal/mqtt/mqtttest"
)

// Over a path that holds the broker's bytes back by 40 ms, every latency
// the session measures (CONNACK, PINGRESP, PUBACK, PUBCOMP, delivery to a
// subscriber behind the same path) is at least 40 ms: each is timed from
// the write to the read of its answer, not from anything later.
func TestLatencyAgainstKnownDelay(t *testing.T) {
	const delay = 40 * time.Millisecond
	b := mqtttest.Start(t, mqtttest.Options{})
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			sub := dial(t, mqtttest.DelayProxy(t, b.Addr, delay), nil, cfgFor(ver.v), as("delay-sub"), nil)
			sub.waitHeld(t)
			sub.do(func(s *Session) { s.Subscribe([]byte("delay/t"), 1, now()) })
			eventually(t, "SUBACK", func() bool { return sub.counts().Subscribed == 1 })
			pub := dial(t, mqtttest.DelayProxy(t, b.Addr, delay), nil, cfgFor(ver.v), Identity{ClientID: []byte("delay-pub"), Publisher: 1}, nil)
			pub.waitHeld(t)
			for i := range 3 {
				pub.do(func(s *Session) { s.Beat(now()) })
				eventually(t, "PINGRESP", func() bool { return pub.counts().Pongs == uint64(i+1) })
			}
			pub.do(func(s *Session) {
				for range 5 {
					s.Publish([]byte("delay/t"), 1, false, nil, now())
					s.Publish([]byte("delay/t"), 2, false, nil, now())
				}
			})
			eventually(t, "acknowledgements", func() bool { c := pub.counts(); return c.Acked[1] == 5 && c.Acked[2] == 5 })
			eventually(t, "deliveries", func() bool { c := sub.counts(); return c.Unique()[1]+c.Unique()[2] == 10 })
			for _, d := range []*netDriver{pub, sub} {
				d.mu.Lock()
				for s, samples := range d.lat {
					for _, ns := range samples {
						if time.Duration(ns) < delay {
							t.Errorf("%s sample %v is under the path's %v", Series(s), time.Duration(ns), delay)
						}
					}
				}
				d.mu.Unlock()
			}
			if pub.samples(Connect) != 1 || pub.samples(Heartbeat) != 3 || pub.samples(PubAck) != 5 || pub.samples(PubComp) != 5 || sub.samples(Deliver) != 10 {
				t.Fatalf("samples: connect %d heartbeat %d puback %d pubcomp %d deliver %d", pub.samples(Connect),
					pub.samples(Heartbeat), pub.samples(PubAck), pub.samples(PubComp), sub.samples(Deliver))
			}
		})
	}
}
