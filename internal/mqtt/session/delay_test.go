package session

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/mqtt/mqtttest"
)

// delayProxy forwards one connection at a time to target, holding every
// byte from the broker back for delay: a path of known latency. It stops
// at the test's end.
func delayProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); up.Close() })
			go io.Copy(up, c)
			go func() {
				type chunk struct {
					at time.Time
					b  []byte
				}
				q := make(chan chunk, 1024)
				go func() {
					for ch := range q {
						time.Sleep(time.Until(ch.at.Add(delay)))
						if _, err := c.Write(ch.b); err != nil {
							return
						}
					}
				}()
				defer close(q)
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						q <- chunk{time.Now(), append([]byte(nil), buf[:n]...)}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// Over a path that holds the broker's bytes back by 40 ms, every latency
// the session measures (CONNACK, PINGRESP, PUBACK, PUBCOMP, delivery to a
// subscriber behind the same path) is at least 40 ms: each is timed from
// the write to the read of its answer, not from anything later.
func TestLatencyAgainstKnownDelay(t *testing.T) {
	const delay = 40 * time.Millisecond
	b := mqtttest.Start(t, mqtttest.Options{})
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			sub := dial(t, delayProxy(t, b.Addr, delay), nil, cfgFor(ver.v), as("delay-sub"), nil)
			sub.waitHeld(t)
			sub.do(func(s *Session) { s.Subscribe([]byte("delay/t"), 1, now()) })
			eventually(t, "SUBACK", func() bool { return sub.counts().Subscribed == 1 })
			pub := dial(t, delayProxy(t, b.Addr, delay), nil, cfgFor(ver.v), Identity{ClientID: []byte("delay-pub"), Publisher: 1}, nil)
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
