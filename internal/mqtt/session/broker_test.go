package session

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/mqtt"
	"github.com/imtool/imtool/internal/mqtt/mqtttest"
)

var versions = []struct {
	name string
	v    byte
}{{"3.1.1", mqtt.V311}, {"5.0", mqtt.V5}}

// Sessions connect to mosquitto over plain TCP and TLS at both versions;
// each CONNECT → CONNACK and each PINGREQ → PINGRESP round trip is timed,
// one sample per round trip, every PINGREQ answered.
func TestMosquittoConnectAndKeepAlive(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true})
	for _, ver := range versions {
		for _, tr := range []struct {
			name string
			addr string
			tc   *tls.Config
		}{{"tcp", b.Addr, nil}, {"tls", b.TLSAddr, b.TLSConfig()}} {
			t.Run(ver.name+"/"+tr.name, func(t *testing.T) {
				d := dial(t, tr.addr, tr.tc, cfgFor(ver.v), as("ka-"+ver.name+tr.name), nil)
				d.waitHeld(t)
				if d.samples(Connect) != 1 {
					t.Fatalf("%d connect samples", d.samples(Connect))
				}
				for i := range 3 {
					d.do(func(s *Session) { s.Beat(now()) })
					eventually(t, "PINGRESP", func() bool { return d.counts().Pongs == uint64(i+1) })
				}
				c := d.counts()
				if c.Pings != 3 || c.Pongs != 3 || c.PingsLate != 0 || d.samples(Heartbeat) != 3 {
					t.Fatalf("pings %d pongs %d late %d samples %d", c.Pings, c.Pongs, c.PingsLate, d.samples(Heartbeat))
				}
				d.mu.Lock()
				for _, ns := range d.lat[Heartbeat] {
					if ns <= 0 || ns > int64(5*time.Second) {
						t.Errorf("heartbeat round trip %d ns", ns)
					}
				}
				d.mu.Unlock()
				d.do(func(s *Session) { s.Close() })
			})
		}
	}
}

// mosquitto's refusals arrive as their classes with the code in the text.
// mosquitto 2.0 answers a wrong password as it answers no credentials,
// with not authorized (3.1.1: 5, 5.0: 0x87), never bad user name or
// password: both are ClassNotAuthorized, whose fix names the credentials.
func TestMosquittoRefusals(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"alice": "s3cret"}})
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			want := "CONNACK 5 not authorized"
			if ver.v == mqtt.V5 {
				want = "CONNACK 0x87 not authorized"
			}
			bad := as("bad-" + ver.name)
			bad.Username, bad.Password = []byte("alice"), []byte("wrong")
			if class, text := dial(t, b.Addr, nil, cfgFor(ver.v), bad, nil).waitEnd(t); class != mqtt.ClassNotAuthorized || text != want {
				t.Errorf("wrong password: %q %q, want %q %q", class, text, mqtt.ClassNotAuthorized, want)
			}
			if class, text := dial(t, b.Addr, nil, cfgFor(ver.v), as("anon-"+ver.name), nil).waitEnd(t); class != mqtt.ClassNotAuthorized || text != want {
				t.Errorf("anonymous: %q %q, want %q %q", class, text, mqtt.ClassNotAuthorized, want)
			}
			good := as("good-" + ver.name)
			good.Username, good.Password = []byte("alice"), []byte("s3cret")
			d := dial(t, b.Addr, nil, cfgFor(ver.v), good, nil)
			d.waitHeld(t)
			d.do(func(s *Session) { s.Close() })
		})
	}
}

// A listener at max_connections closes new connections before answering:
// ClassClosedAtConnect, while the connections it holds stay held. (Its own
// broker per version: mosquitto 2.0.11 lets a client past the limit once
// it has refused a connection or a login on the listener.)
func TestMosquittoServerFull(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{MaxConnections: 2})
			var held []*netDriver
			for i := range 2 {
				d := dial(t, b.Addr, nil, cfgFor(ver.v), as(fmt.Sprintf("ok-%s-%d", ver.name, i)), nil)
				d.waitHeld(t)
				held = append(held, d)
			}
			if class, text := dial(t, b.Addr, nil, cfgFor(ver.v), as("third-"+ver.name), nil).waitEnd(t); class != mqtt.ClassClosedAtConnect {
				t.Errorf("past max_connections: %q %q", class, text)
			}
			for _, d := range held {
				d.do(func(s *Session) {
					if !s.Held() {
						t.Error("a held connection was dropped")
					}
					s.Close()
				})
				d.waitEnd(t)
			}
		})
	}
}

// Pub/sub through mosquitto at QoS 0, 1 and 2 and both versions: the
// counts balance (every message sent is acknowledged at QoS 1/2 and
// delivered once; 0 lost and 0 duplicated at QoS 2), every PUBACK,
// PUBCOMP and delivery is timed once, and at QoS 0 and 1 mosquitto's own
// count of PUBLISH packets received ($SYS/broker/publish/messages/received,
// read by a subscription) equals what the publisher sent (mosquitto 2.0
// leaves QoS 2 out of that count).
func TestMosquittoPubSubCounts(t *testing.T) {
	const n = 300
	for _, ver := range versions {
		for qos := byte(0); qos <= 2; qos++ {
			t.Run(fmt.Sprintf("%s/qos%d", ver.name, qos), func(t *testing.T) {
				b := mqtttest.Start(t, mqtttest.Options{})
				var mu sync.Mutex
				brokerReceived := -1
				obs := dial(t, b.Addr, nil, cfgFor(ver.v), as("obs"), func(topic, payload []byte) {
					if string(topic) == "$SYS/broker/publish/messages/received" {
						mu.Lock()
						brokerReceived, _ = strconv.Atoi(string(payload))
						mu.Unlock()
					}
				})
				obs.waitHeld(t)
				sub := dial(t, b.Addr, nil, cfgFor(ver.v), as("sub"), nil)
				sub.waitHeld(t)
				topic := []byte("imtool/test/in")
				sub.do(func(s *Session) {
					if err := s.Subscribe(topic, qos, now()); err != nil {
						t.Fatal(err)
					}
				})
				eventually(t, "SUBACK", func() bool { return sub.counts().Subscribed == 1 })
				pcfg := cfgFor(ver.v)
				pcfg.MaxInflight = 20
				pub := dial(t, b.Addr, nil, pcfg, Identity{ClientID: []byte("pub"), Publisher: 1}, nil)
				pub.waitHeld(t)
				body := []byte("payload")
				for sent := 0; sent < n; {
					var err error
					pub.do(func(s *Session) { err = s.Publish(topic, qos, false, body, now()) })
					switch err {
					case nil:
						sent++
					case ErrWindowFull:
						time.Sleep(time.Millisecond) // wait for acknowledgements
					default:
						t.Fatal(err)
					}
				}
				if qos > 0 {
					eventually(t, "every publish acknowledged", func() bool { return pub.counts().Acked[qos] == n })
				}
				eventually(t, "every message delivered", func() bool { c := sub.counts(); return c.Unique()[qos] == n })
				time.Sleep(100 * time.Millisecond) // a late duplicate would arrive now
				pc, sc := pub.counts(), sub.counts()
				exp := [3]uint64{}
				exp[qos] = n
				if pc.Sent != exp || (qos > 0 && pc.Acked != exp) || pc.Refused != ([3]uint64{}) {
					t.Fatalf("publisher: sent %v acked %v refused %v", pc.Sent, pc.Acked, pc.Refused)
				}
				if sc.Loss(exp) != ([3]uint64{}) || sc.Unique() != exp {
					t.Fatalf("subscriber: received %v duplicated %v lost %v", sc.Received, sc.Duplicated, sc.Loss(exp))
				}
				if qos == 2 && sc.Duplicated[2] != 0 {
					t.Fatalf("QoS 2 duplicated %d", sc.Duplicated[2])
				}
				wantAckSamples := map[byte]Series{1: PubAck, 2: PubComp}
				if s, ok := wantAckSamples[qos]; ok && pub.samples(s) != n {
					t.Fatalf("%d %s samples for %d acks", pub.samples(s), s, n)
				}
				if got := sub.samples(Deliver); got != n {
					t.Fatalf("%d delivery samples for %d deliveries", got, n)
				}
				if qos == 2 {
					return // mosquitto counts a PUBLISH only when (first byte & 0xF5) == 0x30: not at QoS 2, nor retained
				}
				obs.do(func(s *Session) { s.Subscribe([]byte("$SYS/broker/publish/messages/received"), 0, now()) })
				eventually(t, fmt.Sprintf("mosquitto's received count to reach %d", n), func() bool {
					obs.do(func(s *Session) { s.Beat(now()) }) // see sysWake
					mu.Lock()
					defer mu.Unlock()
					return brokerReceived == n
				})
			})
		}
	}
}

// sysWake: mosquitto 2.0.11 publishes $SYS only when something wakes its
// event loop after sys_interval has passed; with every client idle it
// sleeps until the next keep-alive check (tens of seconds). The observer
// sends a PINGREQ while it waits for a count, as a swarm's heartbeats do.

// The broker's own count of connected clients ($SYS/broker/clients/
// connected, read by a subscription) equals the sessions held, the
// observer included, as they connect and as some leave.
func TestMosquittoSysClientsConnected(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	var mu sync.Mutex
	count := -1
	obs := dial(t, b.Addr, nil, cfgFor(mqtt.V5), as("observer"), func(topic, payload []byte) {
		if string(topic) == "$SYS/broker/clients/connected" {
			mu.Lock()
			count, _ = strconv.Atoi(string(payload))
			mu.Unlock()
		}
	})
	obs.waitHeld(t)
	obs.do(func(s *Session) { s.Subscribe([]byte("$SYS/broker/clients/connected"), 0, now()) })
	var ds []*netDriver
	for i := range 20 {
		v := versions[i%2].v
		d := dial(t, b.Addr, nil, cfgFor(v), as(fmt.Sprintf("c-%d", i)), nil)
		d.waitHeld(t)
		ds = append(ds, d)
	}
	broker := func(want int) func() bool {
		return func() bool {
			obs.do(func(s *Session) { s.Beat(now()) }) // see sysWake
			mu.Lock()
			defer mu.Unlock()
			return count == want
		}
	}
	eventually(t, "mosquitto to count 21 clients (20 + observer)", broker(21))
	for _, d := range ds[:5] {
		d.do(func(s *Session) { s.Close() })
		d.waitEnd(t)
	}
	eventually(t, "mosquitto to count 16 clients", broker(16))
}

// A will is published by the broker when its connection ends without a
// DISCONNECT, and reaches a subscriber as a message without the swarm's
// header.
func TestMosquittoWill(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			got := make(chan string, 1)
			sub := dial(t, b.Addr, nil, cfgFor(ver.v), as("will-sub"), func(topic, payload []byte) {
				got <- string(topic) + "=" + string(payload)
			})
			sub.waitHeld(t)
			sub.do(func(s *Session) { s.Subscribe([]byte("wills/#"), 1, now()) })
			eventually(t, "SUBACK", func() bool { return sub.counts().Subscribed == 1 })
			cfg := cfgFor(ver.v)
			cfg.Connect.Will = &mqtt.Will{Topic: []byte("wills/1"), Payload: []byte("gone"), QoS: 1}
			d := dial(t, b.Addr, nil, cfg, as("will-pub"), nil)
			d.waitHeld(t)
			d.c.Close() // no DISCONNECT
			select {
			case m := <-got:
				if m != "wills/1=gone" {
					t.Fatalf("will %q", m)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no will in 5 s")
			}
			sub.do(func(s *Session) { s.Close() })
		})
	}
}

// mosquitto announces max_inflight_messages as its 5.0 Receive Maximum:
// the session's window shrinks to it, and a burst of QoS 1 publishes
// stops at it (the rest Blocked) until PUBACKs free places. At 3.1.1
// nothing is announced and the session's own cap stands.
func TestMosquittoReceiveMaximum(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{MaxInflight: 5})
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			cfg := cfgFor(ver.v)
			cfg.MaxInflight = 50
			d := dial(t, b.Addr, nil, cfg, as("rm-"+ver.name), nil)
			d.waitHeld(t)
			want := uint16(50)
			if ver.v == mqtt.V5 {
				want = 5
			}
			var window uint16
			var blocked uint64
			d.do(func(s *Session) {
				window = s.Window()
				for range want + 3 { // in one go: no PUBACK can be handled in between
					s.Publish([]byte("rm/t"), 1, false, nil, now())
				}
				blocked = s.Counts.Blocked[1]
			})
			if window != want || blocked != 3 {
				t.Fatalf("window %d blocked %d, want %d and 3", window, blocked, want)
			}
			eventually(t, "PUBACKs", func() bool { return d.counts().Acked[1] == uint64(want) })
			d.do(func(s *Session) {
				if err := s.Publish([]byte("rm/t"), 1, false, nil, now()); err != nil {
					t.Fatalf("publish after PUBACKs: %v", err)
				}
			})
		})
	}
}

// Fan-out and retained: three subscribers of 'fan/#' each receive every
// message published to 'fan/all' (expected deliveries = messages × 3,
// none lost or duplicated, summed with Counts.Add), and a retained message
// published before they subscribed reaches each as Retained, not as a
// delivery.
func TestMosquittoFanOutAndRetained(t *testing.T) {
	const n = 100
	b := mqtttest.Start(t, mqtttest.Options{})
	pub := dial(t, b.Addr, nil, cfgFor(mqtt.V5), Identity{ClientID: []byte("fan-pub"), Publisher: 3}, nil)
	pub.waitHeld(t)
	pub.do(func(s *Session) { s.Publish([]byte("fan/retained"), 1, true, []byte("kept"), now()) })
	eventually(t, "retained PUBACK", func() bool { return pub.counts().Acked[1] == 1 })
	var subs []*netDriver
	for i := range 3 {
		d := dial(t, b.Addr, nil, cfgFor(versions[i%2].v), as(fmt.Sprintf("fan-sub-%d", i)), nil)
		d.waitHeld(t)
		d.do(func(s *Session) { s.Subscribe([]byte("fan/#"), 1, now()) })
		eventually(t, "SUBACK", func() bool { return d.counts().Subscribed == 1 })
		subs = append(subs, d)
	}
	for sent := 0; sent < n; {
		var err error
		pub.do(func(s *Session) { err = s.Publish([]byte("fan/all"), 1, false, nil, now()) })
		if err == ErrWindowFull {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sent++
	}
	total := func() Counts {
		var c Counts
		for _, d := range subs {
			dc := d.counts()
			c.Add(&dc)
		}
		return c
	}
	eventually(t, "every subscriber to receive every message", func() bool { return total().Unique()[1] == 3*n })
	c := total()
	if lost := c.Loss([3]uint64{0, 3 * n, 0}); lost != ([3]uint64{}) || c.Duplicated[1] != 0 || c.Retained[1] != 3 {
		t.Fatalf("fan-out: received %v duplicated %v retained %v lost %v", c.Received, c.Duplicated, c.Retained, lost)
	}
}

// A second connection with the same client id takes the session over: the
// first ends, the second stays held. A 5.0 broker may say so with
// DISCONNECT 0x8E (mqtt_session_taken_over, the code in the text);
// mosquitto 2.0.11 closes the socket before that DISCONNECT leaves, so the
// first sees EOF after its CONNACK: a drop, not an MQTT error class.
func TestMosquittoSessionTakenOver(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			first := dial(t, b.Addr, nil, cfgFor(ver.v), as("same-"+ver.name), nil)
			first.waitHeld(t)
			second := dial(t, b.Addr, nil, cfgFor(ver.v), as("same-"+ver.name), nil)
			second.waitHeld(t)
			class, text := first.waitEnd(t)
			dropped := class == "" && text == "EOF"
			told := ver.v == mqtt.V5 && class == mqtt.ClassTakenOver && text == "DISCONNECT 0x8E session taken over"
			if !dropped && !told {
				t.Fatalf("taken over: %q %q", class, text)
			}
			second.do(func(s *Session) {
				if !s.Held() {
					t.Error("the second connection was dropped")
				}
				s.Close()
			})
		})
	}
}
