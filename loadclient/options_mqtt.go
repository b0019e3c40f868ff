package loadclient

import (
	"fmt"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/mqtt"
	"github.com/imtool/imtool/internal/mqtt/session"
	"github.com/imtool/imtool/internal/placeholder"
)

// MQTTOptions are the options of --proto mqtt. Templates take {i} (the
// connection's index) and {uid} (--uid-base + i); the publish topic also
// {peer}, a connection of the swarm drawn at random per message. Zero
// values are the defaults of `imtool swarm`.
type MQTTOptions struct {
	Version  string // "3.1.1" (default) or "5"
	ClientID string // default "imtool-{uid}"
	// Persistent asks the broker to keep the session (clean session /
	// clean start 0); by default every connection starts clean.
	Persistent bool
	Username   string
	Password   string
	// The will the broker publishes when a connection ends without a
	// DISCONNECT (none without WillTopic).
	WillTopic   string
	WillPayload string
	WillQoS     int
	WillRetain  bool
	// Subscribe is the filter every connection subscribes to once its
	// CONNACK came, at SubQoS; the connection counts as held when its
	// SUBACK grants it.
	Subscribe string
	SubQoS    int
	// Publish is the topic the swarm's --msg-rate messages go to, at QoS,
	// retained with Retain.
	Publish string
	QoS     int
	Retain  bool
	// Inflight caps QoS 1/2 publishes in flight per connection (0: 65,535);
	// a 5.0 broker's Receive Maximum lowers it.
	Inflight int
}

// mqttSetup is what every loop's mqttProto shares, parsed once.
type mqttSetup struct {
	cfg                  session.Config
	clientID, user, pass placeholder.Template
	hasUser, hasPass     bool
	filter, topic        placeholder.Template
	hasFilter            bool
	filterPerConn        bool   // the filter differs per connection ({i}, {uid})
	fixedFilter          []byte // the filter, when it is the same for all
	// A per-connection filter's text before its first {i} or {uid}: a
	// topic that starts with it names, right after, the one connection
	// (besides the peer and the sender) whose filter it may match. With a
	// wildcard in it a topic can reach connections the swarm cannot tell:
	// the deliveries expected are unknown (expectUnknown).
	recipientLit  string
	recipientUID  bool // the number after recipientLit is a uid, not an index
	expectUnknown bool
	subQoS, qos   byte
	body          placeholder.Template // after the 24-byte header
}

// setupMQTT checks the MQTT options and parses the templates once.
func setupMQTT(o Options) (mqttSetup, error) {
	m := o.MQTT
	if o.Proto != ProtoMQTT {
		if m != (MQTTOptions{}) {
			return mqttSetup{}, fmt.Errorf("MQTT options (--client-id, --subscribe, --publish, …) need --proto mqtt")
		}
		return mqttSetup{}, nil
	}
	var s mqttSetup
	c := &s.cfg.Connect
	switch m.Version {
	case "", "3.1.1", "4":
		c.Version = mqtt.V311
	case "5", "5.0":
		c.Version = mqtt.V5
	default:
		return s, fmt.Errorf("--mqtt-version %q: give 3.1.1 or 5", m.Version)
	}
	c.CleanStart = !m.Persistent
	if o.Heartbeat > 0 {
		// Twice the heartbeat: a broker closes a connection silent for
		// 1.5 keep-alives, three heartbeats here, so a late one is a
		// latency, not a disconnect.
		ka := (2*o.Heartbeat + time.Second - 1) / time.Second
		if ka > 65535 {
			return s, fmt.Errorf("--heartbeat %v: MQTT's keep-alive (twice the heartbeat) is at most 65535s: give at most 9h", o.Heartbeat)
		}
		c.KeepAlive = uint16(ka)
	}
	if m.Inflight < 0 || m.Inflight > 65535 {
		return s, fmt.Errorf("--mqtt-inflight %d: give 0 (the protocol's 65535) to 65535", m.Inflight)
	}
	s.cfg.MaxInflight = uint16(m.Inflight)
	for _, q := range []struct {
		name string
		v    int
	}{{"--qos", m.QoS}, {"--sub-qos", m.SubQoS}, {"--will-qos", m.WillQoS}} {
		if q.v < 0 || q.v > 2 {
			return s, fmt.Errorf("%s %d: give 0, 1 or 2", q.name, q.v)
		}
	}
	s.qos, s.subQoS = byte(m.QoS), byte(m.SubQoS)
	conn := []string{placeholder.I, placeholder.UID}
	id := m.ClientID
	if id == "" {
		id = "imtool-{uid}"
	}
	var err error
	if s.clientID, err = placeholder.Parse(id, conn...); err != nil {
		return s, fmt.Errorf("--client-id: %w", err)
	}
	if s.user, err = placeholder.Parse(m.Username, conn...); err != nil {
		return s, fmt.Errorf("--username: %w", err)
	}
	if s.pass, err = placeholder.Parse(m.Password, conn...); err != nil {
		return s, fmt.Errorf("--password: %w", err)
	}
	s.hasUser, s.hasPass = m.Username != "", m.Password != ""
	if m.WillTopic != "" {
		if err := mqtt.CheckTopic([]byte(m.WillTopic)); err != nil {
			return s, fmt.Errorf("--will-topic: %w", err)
		}
		c.Will = &mqtt.Will{Topic: []byte(m.WillTopic), Payload: []byte(m.WillPayload), QoS: byte(m.WillQoS), Retain: m.WillRetain}
	}
	if m.Subscribe != "" {
		if s.filter, err = placeholder.Parse(m.Subscribe, conn...); err != nil {
			return s, fmt.Errorf("--subscribe: %w", err)
		}
		s.hasFilter = true
		s.filterPerConn = s.filter.Has(placeholder.I) || s.filter.Has(placeholder.UID)
		if s.fixedFilter = s.filter.Append(nil, &placeholder.Values{}); s.filterPerConn {
			s.fixedFilter = nil
			s.expectUnknown = true
			for _, name := range []string{placeholder.I, placeholder.UID} {
				if lit, ok := s.filter.Prefix(name); ok && !strings.ContainsAny(lit, "+#") {
					s.recipientLit, s.recipientUID, s.expectUnknown = lit, name == placeholder.UID, false
				}
			}
		}
		if err := mqtt.CheckFilter(s.filter.Append(nil, &placeholder.Values{})); err != nil {
			return s, fmt.Errorf("--subscribe %q: %w", m.Subscribe, err)
		}
	}
	if o.MsgRate > 0 && m.Publish == "" {
		return s, fmt.Errorf("--msg-rate with --proto mqtt needs a topic: give --publish (e.g. 'devices/{peer}/in')")
	}
	if m.Publish != "" {
		if s.topic, err = placeholder.Parse(m.Publish, placeholder.I, placeholder.UID, placeholder.Peer); err != nil {
			return s, fmt.Errorf("--publish: %w", err)
		}
		if err := mqtt.CheckTopic(s.topic.Append(nil, &placeholder.Values{})); err != nil {
			return s, fmt.Errorf("--publish %q: %w", m.Publish, err)
		}
	}
	text := o.PayloadTemplate
	if text == "" {
		text = strings.Repeat("x", max(0, o.Payload-session.HeaderLen))
	}
	if s.body, err = placeholder.Parse(text, placeholder.UID, placeholder.I, placeholder.Seq, placeholder.TS, placeholder.Peer); err != nil {
		return s, fmt.Errorf("message payload: %w", err)
	}
	return s, nil
}
