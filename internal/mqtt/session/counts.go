package session

// Counts is what one session saw, per QoS (index 0, 1, 2) where it says
// so: the publishing side counts Sent, Acked, Refused, Unacked and Blocked
// by the QoS it published at; the receiving side counts Received,
// Duplicated and Retained by the QoS in the payload's header (the
// publisher's), whatever QoS the broker delivered at. Lost needs both
// sides: Loss compares what subscribers should have received with what they
// did.
type Counts struct {
	Sent       [3]uint64 // PUBLISH written
	Acked      [3]uint64 // PUBACK (1) or PUBCOMP (2) read: the broker has it
	Refused    [3]uint64 // 5.0 PUBACK/PUBREC with a reason code ≥ 0x80
	Unacked    [3]uint64 // still in flight when the connection ended
	Blocked    [3]uint64 // not sent: the in-flight window was full
	Received   [3]uint64 // swarm messages delivered (duplicates included)
	Duplicated [3]uint64 // deliveries of a (publisher, sequence) already delivered
	Retained   [3]uint64 // swarm messages from the retained store (retain flag set)

	Redelivered uint64 // QoS 2 PUBLISH sent again before PUBREL: answered, not delivered twice
	Foreign     uint64 // PUBLISH without a swarm header ($SYS, other clients)
	Subscribed  uint64 // SUBACKs granting the subscription
	Pings       uint64 // PINGREQ written
	Pongs       uint64 // PINGRESP read
	PingsLate   uint64 // heartbeats skipped: the previous PINGREQ was unanswered
	LastRefusal string // example of the last Refused
}

// Add adds o to c.
func (c *Counts) Add(o *Counts) {
	for q := range 3 {
		c.Sent[q] += o.Sent[q]
		c.Acked[q] += o.Acked[q]
		c.Refused[q] += o.Refused[q]
		c.Unacked[q] += o.Unacked[q]
		c.Blocked[q] += o.Blocked[q]
		c.Received[q] += o.Received[q]
		c.Duplicated[q] += o.Duplicated[q]
		c.Retained[q] += o.Retained[q]
	}
	c.Redelivered += o.Redelivered
	c.Foreign += o.Foreign
	c.Subscribed += o.Subscribed
	c.Pings += o.Pings
	c.Pongs += o.Pongs
	c.PingsLate += o.PingsLate
	if o.LastRefusal != "" {
		c.LastRefusal = o.LastRefusal
	}
}

// Unique is how many distinct messages of each QoS were delivered.
func (c Counts) Unique() (u [3]uint64) {
	for q := range 3 {
		u[q] = c.Received[q] - c.Duplicated[q]
	}
	return u
}

// Loss is, per QoS, how many of expected deliveries (each message sent
// times the subscriptions that match its topic, which the swarm's plan
// knows) never arrived: expected minus the distinct deliveries of c.
func (c Counts) Loss(expected [3]uint64) (lost [3]uint64) {
	u := c.Unique()
	for q := range 3 {
		if expected[q] > u[q] {
			lost[q] = expected[q] - u[q]
		}
	}
	return lost
}

// window remembers which of a publisher's last 64 sequence numbers were
// delivered: brokers deliver one publisher's messages in order (§4.6), so
// a number above the highest is new and one within 64 below it is new
// unless its bit is set. Older numbers cannot be told apart and count as
// new.
type window struct {
	high uint64
	bits uint64 // bit i: high-i was delivered
}

// add records seq and tells whether it is new.
func (w *window) add(seq uint64) bool {
	switch {
	case seq > w.high:
		if d := seq - w.high; d < 64 {
			w.bits = w.bits<<d | 1
		} else {
			w.bits = 1
		}
		w.high = seq
		return true
	case w.high-seq >= 64:
		return true
	}
	bit := uint64(1) << (w.high - seq)
	if w.bits&bit != 0 {
		return false
	}
	w.bits |= bit
	return true
}
