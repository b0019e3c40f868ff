package loadclient

import (
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/placeholder"
)

// TestMQTTOptionsRefused: bad MQTT options are refused before anything is
// dialed, each with what to give instead.
func TestMQTTOptionsRefused(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		want string
	}{
		{Options{Proto: ProtoMQTT, MQTT: MQTTOptions{Version: "4.0"}}, `--mqtt-version "4.0": give 3.1.1 or 5`},
		{Options{Proto: ProtoMQTT, MQTT: MQTTOptions{QoS: 3}}, "--qos 3: give 0, 1 or 2"},
		{Options{Proto: ProtoMQTT, MQTT: MQTTOptions{SubQoS: -1}}, "--sub-qos -1: give 0, 1 or 2"},
		{Options{Proto: ProtoMQTT, MsgRate: 10}, "needs a topic: give --publish"},
		{Options{Proto: ProtoMQTT, MQTT: MQTTOptions{Publish: "a/+/b"}}, "--publish"},
		{Options{Proto: ProtoMQTT, MQTT: MQTTOptions{Subscribe: "a/#/b"}}, "--subscribe"},
		{Options{Proto: ProtoMQTT, MQTT: MQTTOptions{ClientID: "c-{peer}"}}, "--client-id: placeholder {peer} is not known here"},
		{Options{Proto: ProtoMQTT, MQTT: MQTTOptions{Inflight: 70000}}, "--mqtt-inflight 70000"},
		{Options{Proto: ProtoMQTT, Heartbeat: 10 * time.Hour}, "--heartbeat 10h0m0s"},
		{Options{MQTT: MQTTOptions{Subscribe: "x"}}, "need --proto mqtt"},
	} {
		_, err := NewWithEnv(tt.o, hostEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want it to contain %q", tt.o.MQTT, err, tt.want)
		}
	}
}

// TestMQTTExpected: the deliveries a message is expected to make are the
// plan's subscriptions matching its topic: every connection's for a filter
// shared by all (fan-out), the peer's (and the sender's own) for
// per-connection filters, none for a topic no filter matches.
func TestMQTTExpected(t *testing.T) {
	for _, tt := range []struct {
		sub, pub string
		g, peer  int
		want     int64
	}{
		{"broadcast/#", "broadcast/{uid}", 3, 5, 100},
		{"broadcast/#", "devices/{peer}/in", 3, 5, 0},
		{"devices/{uid}/in", "devices/{peer}/in", 3, 5, 1},
		{"devices/{uid}/in", "devices/{peer}/in", 5, 5, 1}, // to itself: one subscription
		{"devices/{i}/#", "devices/{i}/in", 3, 5, 1},       // its own
		{"devices/{uid}/in", "devices/7/in", 3, 5, 1},      // uid 7's subscription: connection 6
		{"devices/{uid}/in", "devices/700/in", 3, 5, 0},    // no such uid in a plan of 100
		{"bars/{i}", "bars/{peer}", 3, 5, 1},               // index 6 (peer uid 6) subscribed bars/6
		{"bars/{i}/#", "bars/{uid}/x", 3, 5, 1},            // the sender's uid 4 is index 4's topic
		{"bars/+/{i}", "bars/x/{peer}", 3, 5, 0},           // not known (expectUnknown)
		{"", "devices/{peer}/in", 3, 5, 0},
	} {
		o, err := Options{Proto: ProtoMQTT, MQTT: MQTTOptions{Subscribe: tt.sub, Publish: tt.pub}}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		mqs, err := setupMQTT(o)
		if err != nil {
			t.Fatal(err)
		}
		c := &core{o: o, plan: &Plan{Conns: 100}, mq: mqs}
		p := newMQTTProto(c)
		p.topic = c.mq.topic.Append(nil, &placeholder.Values{UID: c.uid(tt.g), I: uint64(tt.g), Peer: c.uid(tt.peer)})
		if unknown := strings.Contains(tt.sub, "+/{"); unknown != mqs.expectUnknown {
			t.Errorf("--subscribe %q: expectUnknown %v", tt.sub, mqs.expectUnknown)
		}
		if got := p.expected(tt.g, tt.peer); got != tt.want {
			t.Errorf("--subscribe %q --publish %q (topic %s) from %d to %d: expected %d, want %d", tt.sub, tt.pub, p.topic, tt.g, tt.peer, got, tt.want)
		}
	}
}
