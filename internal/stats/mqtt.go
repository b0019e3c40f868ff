package stats

import "github.com/imtool/imtool/internal/mqtt"

// MQTT is what a --proto mqtt swarm counted of its messages, per QoS
// (index 0, 1, 2). The publishing side counts Sent, Acked, Refused,
// Unacked and Blocked by the QoS it published at; the subscribing side
// counts Received, Duplicated and Retained by the publisher's QoS, carried
// in the payload. Expected is the deliveries the plan's subscriptions call
// for (each message sent times the subscriptions that match its topic),
// so Lost = Expected − distinct deliveries holds across shards and agents
// once their counts are summed.
type MQTT struct {
	Sent       [3]int64 `json:"sent"`
	Acked      [3]int64 `json:"acked"`             // PUBACK (QoS 1) or PUBCOMP (QoS 2) read
	Refused    [3]int64 `json:"refused"`           // 5.0 acknowledgement with a reason ≥ 0x80
	Unacked    [3]int64 `json:"unacked"`           // in flight when its connection ended
	Blocked    [3]int64 `json:"blocked"`           // not sent: the in-flight window (Receive Maximum) was full
	Expected   [3]int64 `json:"expected"`          // deliveries the plan's subscriptions call for
	Received   [3]int64 `json:"received"`          // deliveries, duplicates included
	Duplicated [3]int64 `json:"duplicated"`        // deliveries of a message already delivered
	Retained   [3]int64 `json:"retained"`          // copies from the broker's retained store
	Lost       [3]int64 `json:"lost"`              // Expected − (Received − Duplicated), at least 0
	Subscribed int64    `json:"subscribed"`        // SUBACKs granting the subscription
	Foreign    int64    `json:"foreign,omitempty"` // PUBLISHes without a swarm header ($SYS, other clients)
	// Redelivered are QoS 2 PUBLISHes the broker sent again before PUBREL:
	// answered, not delivered twice.
	Redelivered int64 `json:"redelivered,omitempty"`
	// ExpectedUnknown: the subscriptions' wildcards come before their {i}
	// or {uid}, so the swarm cannot tell which connections a topic reaches:
	// Expected and Lost are not known (0).
	ExpectedUnknown bool `json:"expected_unknown,omitempty"`
}

// Add adds o to m and works Lost out again from the sums.
func (m *MQTT) Add(o *MQTT) {
	for q := range 3 {
		m.Sent[q] += o.Sent[q]
		m.Acked[q] += o.Acked[q]
		m.Refused[q] += o.Refused[q]
		m.Unacked[q] += o.Unacked[q]
		m.Blocked[q] += o.Blocked[q]
		m.Expected[q] += o.Expected[q]
		m.Received[q] += o.Received[q]
		m.Duplicated[q] += o.Duplicated[q]
		m.Retained[q] += o.Retained[q]
		m.Lost[q] = max(0, m.Expected[q]-(m.Received[q]-m.Duplicated[q]))
		if o.ExpectedUnknown || m.ExpectedUnknown {
			m.Lost[q] = 0
		}
	}
	m.ExpectedUnknown = m.ExpectedUnknown || o.ExpectedUnknown
	m.Subscribed += o.Subscribed
	m.Foreign += o.Foreign
	m.Redelivered += o.Redelivered
}

// Undelivered is how many expected deliveries have not arrived (yet).
func (m *MQTT) Undelivered() int64 {
	var n int64
	for q := range 3 {
		n += m.Lost[q]
	}
	return n
}

func init() {
	for _, class := range mqtt.Classes() {
		builtinFixes[class] = mqtt.Fix(class)
	}
}
