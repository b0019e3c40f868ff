package main

import (
	"github.com/urfave/cli/v2"

	"github.com/imtool/imtool/loadclient"
)

// mqttFlags are the flags of --proto mqtt.
func mqttFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mqtt-version", Value: "3.1.1", Usage: "MQTT version of --proto mqtt: 3.1.1 or 5"},
		&cli.StringFlag{Name: "client-id", Value: "imtool-{uid}", Usage: "MQTT client id, {uid} and {i} filled per connection (make it unique: a second connection with an id takes the first one's session over)"},
		&cli.BoolFlag{Name: "clean-start", Value: true, Usage: "MQTT clean session (3.1.1) / clean start (5): --clean-start=false asks the broker to keep sessions"},
		&cli.StringFlag{Name: "username", Usage: "MQTT user name, {uid} and {i} filled per connection"},
		&cli.StringFlag{Name: "password", Usage: "MQTT password, {uid} and {i} filled per connection"},
		&cli.StringFlag{Name: "will-topic", Usage: "MQTT will: the topic the broker publishes to when a connection ends without DISCONNECT"},
		&cli.StringFlag{Name: "will-payload", Usage: "MQTT will: its payload"},
		&cli.IntFlag{Name: "will-qos", Usage: "MQTT will: its QoS (0, 1, 2)"},
		&cli.BoolFlag{Name: "will-retain", Usage: "MQTT will: retained"},
		&cli.StringFlag{Name: "subscribe", Usage: "MQTT topic filter every connection subscribes to, {uid} and {i} filled ('devices/{uid}/in', or 'broadcast/#' for fan-out); a connection is held once its SUBACK grants it"},
		&cli.IntFlag{Name: "sub-qos", Usage: "QoS of --subscribe (0, 1, 2)"},
		&cli.StringFlag{Name: "publish", Usage: "MQTT topic of the --msg-rate messages, {uid}, {i} and {peer} (a uid of the swarm drawn per message) filled: 'devices/{peer}/in'"},
		&cli.IntFlag{Name: "qos", Usage: "QoS of --publish (0, 1, 2): QoS 1 is timed to its PUBACK, QoS 2 to its PUBCOMP"},
		&cli.BoolFlag{Name: "retain", Usage: "publish retained messages"},
		&cli.IntFlag{Name: "mqtt-inflight", Usage: "QoS 1/2 publishes in flight per connection, at most (a 5.0 broker's Receive Maximum lowers it); past it a message is not sent and counted blocked", DefaultText: "65535"},
	}
}

// mqttOptions reads the flags of mqttFlags; zero values everywhere when
// the protocol is another (so nothing MQTT crosses to shards and agents).
func mqttOptions(c *cli.Context, proto string) loadclient.MQTTOptions {
	if proto != loadclient.ProtoMQTT {
		return loadclient.MQTTOptions{}
	}
	return loadclient.MQTTOptions{
		Version: c.String("mqtt-version"), ClientID: c.String("client-id"), Persistent: !c.Bool("clean-start"),
		Username: c.String("username"), Password: c.String("password"),
		WillTopic: c.String("will-topic"), WillPayload: c.String("will-payload"), WillQoS: c.Int("will-qos"), WillRetain: c.Bool("will-retain"),
		Subscribe: c.String("subscribe"), SubQoS: c.Int("sub-qos"),
		Publish: c.String("publish"), QoS: c.Int("qos"), Retain: c.Bool("retain"), Inflight: c.Int("mqtt-inflight"),
	}
}
