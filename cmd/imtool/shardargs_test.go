package main

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imtool/imtool/internal/runner"
	"github.com/imtool/imtool/loadclient"
	"github.com/imtool/imtool/loadclient/agent"
)

// A shard's command line (runner.SwarmArgs), read back by the swarm
// command, gives the shard the parent's WebSocket and TLS options: a shard
// without them would dial without the CA, the headers or the payload.
// Targets and headers with commas stay whole.
func TestShardArgsCarryWSAndTLS(t *testing.T) {
	o := loadclient.DefaultOptions()
	o.Targets = []string{"wss://gw.test:9443,9444/chat?u={uid}", "tls://10.0.0.1:9000"}
	o.Proto, o.WSPath, o.WSSubprotocol, o.WSBinary = loadclient.ProtoWS, "/other?i={i}", "chat", true
	o.Headers = []string{"Authorization: Bearer {uid}", "Cookie: a=b; c=d", "Accept-Language: en, fr"}
	o.PayloadTemplate = "{\"ts\": {ts}, \"from\": {uid}}\nline two"
	o.TLS = loadclient.TLSOptions{On: true, ServerName: "gw.test", CAFile: "/etc/ca.pem", Insecure: true,
		CertFile: "/c.pem", KeyFile: "/c.key", MinVersion: "1.3", Resume: true}
	o.Heartbeat, o.Hold = 5*time.Second, 0
	shard := loadclient.Shard{Index: 1, First: 10, Count: 10}
	got := shardReads(t, o, shard)
	if got.Proto != o.Proto || got.WSPath != o.WSPath || got.WSSubprotocol != o.WSSubprotocol || got.WSBinary != o.WSBinary ||
		!reflect.DeepEqual(got.Headers, o.Headers) || !reflect.DeepEqual(got.Targets, o.Targets) || got.PayloadTemplate != o.PayloadTemplate || got.TLS != o.TLS || got.Shard != shard {
		t.Fatalf("the shard reads\n%+v\nthe parent had\n%+v", got, o)
	}
}

// The MQTT options cross to shards (their command line) and to agents
// (loadclient.Options as JSON) whole: a shard without them would connect
// with another client id, without credentials, or publish nothing.
func TestShardArgsCarryMQTT(t *testing.T) {
	o := loadclient.DefaultOptions()
	o.Proto = loadclient.ProtoMQTT
	o.MQTT = loadclient.MQTTOptions{Version: "5", ClientID: "dev-{i}", Persistent: true, Username: "u{uid}", Password: "p w",
		WillTopic: "wills/{uid}", WillPayload: "gone", WillQoS: 1, WillRetain: true, Subscribe: "devices/{uid}/in", SubQoS: 2,
		Publish: "devices/{peer}/in", QoS: 2, Retain: true, Inflight: 7}
	got := shardReads(t, o, loadclient.Shard{Index: 1, First: 10, Count: 10})
	if got.Proto != o.Proto || got.MQTT != o.MQTT {
		t.Fatalf("the shard reads\n%+v\nthe parent had\n%+v", got.MQTT, o.MQTT)
	}
	b, err := json.Marshal(agent.WireOptions{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	var back agent.WireOptions
	if err := json.Unmarshal(b, &back); err != nil || back.MQTT != o.MQTT {
		t.Fatalf("an agent reads %+v (%v), the coordinator sent %+v", back.MQTT, err, o.MQTT)
	}
}

// shardReads is what a shard's swarm command makes of runner.SwarmArgs(o, s).
func shardReads(t *testing.T, o loadclient.Options, s loadclient.Shard) loadclient.Options {
	t.Helper()
	var got loadclient.Options
	app := newApp()
	for _, cmd := range app.Commands {
		if cmd.Name == "swarm" {
			cmd.Action = func(c *cli.Context) (err error) { got, err = swarmOptions(c); return err }
		}
	}
	if err := app.Run(append([]string{"imtool"}, runner.SwarmArgs(o, s)...)); err != nil {
		t.Fatal(err)
	}
	return got
}
