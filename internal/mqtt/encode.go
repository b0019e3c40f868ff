package mqtt

import "unicode/utf8"

// Connect is what a CONNECT carries. Nil Username or Password is not sent;
// an empty non-nil one is sent empty.
type Connect struct {
	Version    byte // V311 or V5
	ClientID   []byte
	CleanStart bool // clean session (3.1.1) / clean start (5.0)
	KeepAlive  uint16
	Username   []byte
	Password   []byte
	Will       *Will
	// 5.0 properties; 0 leaves a property out (the broker assumes its
	// default: session ends with the connection, no limit from the client).
	SessionExpiry uint32
	ReceiveMax    uint16
	MaxPacketSize uint32
}

// Will is the message the broker publishes when the connection ends
// without a DISCONNECT.
type Will struct {
	Topic   []byte
	Payload []byte
	QoS     byte
	Retain  bool
}

// Property identifiers (MQTT 5.0 §2.2.2.2) the codec writes or reads.
const (
	propPayloadFormat     byte = 0x01
	propMessageExpiry     byte = 0x02
	propContentType       byte = 0x03
	propResponseTopic     byte = 0x08
	propCorrelationData   byte = 0x09
	propSubscriptionID    byte = 0x0B
	propSessionExpiry     byte = 0x11
	propAssignedClientID  byte = 0x12
	propServerKeepAlive   byte = 0x13
	propAuthMethod        byte = 0x15
	propAuthData          byte = 0x16
	propRequestProblem    byte = 0x17
	propWillDelay         byte = 0x18
	propRequestResponse   byte = 0x19
	propResponseInfo      byte = 0x1A
	propServerReference   byte = 0x1C
	propReasonString      byte = 0x1F
	propReceiveMax        byte = 0x21
	propTopicAliasMax     byte = 0x22
	propTopicAlias        byte = 0x23
	propMaxQoS            byte = 0x24
	propRetainAvailable   byte = 0x25
	propUserProperty      byte = 0x26
	propMaxPacketSize     byte = 0x27
	propWildcardAvailable byte = 0x28
	propSubIDAvailable    byte = 0x29
	propSharedAvailable   byte = 0x2A
)

func checkString(what string, s []byte) error {
	if len(s) > 0xFFFF {
		return malformed("%s is %d bytes, more than the 65,535 a string can carry", what, len(s))
	}
	if !utf8.Valid(s) {
		return malformed("%s is not UTF-8", what)
	}
	for _, b := range s {
		if b == 0 {
			return malformed("%s contains U+0000", what)
		}
	}
	return nil
}

// AppendConnect appends the CONNECT for c. It refuses what the version
// cannot carry: a 3.1.1 password without a user name (§3.1.2.9), a will
// QoS above 2, strings that are not UTF-8 or too long.
func AppendConnect(dst []byte, c *Connect) ([]byte, error) {
	if c.Version != V311 && c.Version != V5 {
		return dst, malformed("protocol level %d: imtool speaks 4 (3.1.1) and 5 (5.0)", c.Version)
	}
	if c.Version == V311 && c.Password != nil && c.Username == nil {
		return dst, malformed("MQTT 3.1.1 cannot send a password without a user name: give a user name or use 5.0")
	}
	if err := checkString("client id", c.ClientID); err != nil {
		return dst, err
	}
	if err := checkString("user name", c.Username); err != nil {
		return dst, err
	}
	if len(c.Password) > 0xFFFF {
		return dst, malformed("password longer than 65,535 bytes")
	}
	flags := byte(0)
	if c.CleanStart {
		flags |= 0x02
	}
	props := 0
	if c.Version == V5 {
		if c.SessionExpiry != 0 {
			props += 5
		}
		if c.ReceiveMax != 0 {
			props += 3
		}
		if c.MaxPacketSize != 0 {
			props += 5
		}
	}
	rem := 10 + 2 + len(c.ClientID) // protocol name, level, flags, keep alive; client id
	if c.Version == V5 {
		rem += varintLen(props) + props
	}
	if w := c.Will; w != nil {
		if w.QoS > 2 {
			return dst, malformed("will QoS %d: QoS is 0, 1 or 2", w.QoS)
		}
		if err := checkString("will topic", w.Topic); err != nil {
			return dst, err
		}
		if len(w.Payload) > 0xFFFF {
			return dst, malformed("will payload longer than 65,535 bytes")
		}
		flags |= 0x04 | w.QoS<<3
		if w.Retain {
			flags |= 0x20
		}
		rem += 4 + len(w.Topic) + len(w.Payload)
		if c.Version == V5 {
			rem++ // will properties: none
		}
	}
	if c.Username != nil {
		flags |= 0x80
		rem += 2 + len(c.Username)
	}
	if c.Password != nil {
		flags |= 0x40
		rem += 2 + len(c.Password)
	}
	dst = append(dst, CONNECT<<4)
	dst = appendVarint(dst, rem)
	dst = append(dst, 0, 4, 'M', 'Q', 'T', 'T', c.Version, flags)
	dst = appendUint16(dst, c.KeepAlive)
	if c.Version == V5 {
		dst = appendVarint(dst, props)
		if c.SessionExpiry != 0 {
			dst = appendUint32(append(dst, propSessionExpiry), c.SessionExpiry)
		}
		if c.ReceiveMax != 0 {
			dst = appendUint16(append(dst, propReceiveMax), c.ReceiveMax)
		}
		if c.MaxPacketSize != 0 {
			dst = appendUint32(append(dst, propMaxPacketSize), c.MaxPacketSize)
		}
	}
	dst = appendString(dst, c.ClientID)
	if w := c.Will; w != nil {
		if c.Version == V5 {
			dst = append(dst, 0)
		}
		dst = appendString(dst, w.Topic)
		dst = appendString(dst, w.Payload)
	}
	if c.Username != nil {
		dst = appendString(dst, c.Username)
	}
	if c.Password != nil {
		dst = appendString(dst, c.Password)
	}
	return dst, nil
}

// Publish is one PUBLISH. PacketID must be non-zero at QoS 1 and 2 and is
// ignored at QoS 0.
type Publish struct {
	Topic    []byte
	Payload  []byte
	QoS      byte
	Retain   bool
	Dup      bool
	PacketID uint16
}

// AppendPublish appends the PUBLISH p for protocol level v (5.0 adds an
// empty property list). The caller keeps the topic valid (CheckTopic).
func AppendPublish(dst []byte, v byte, p *Publish) []byte {
	return append(AppendPublishHeader(dst, v, p, len(p.Payload)), p.Payload...)
}

// AppendPublishHeader appends the PUBLISH p up to its payload, which is n
// bytes the caller appends next (p.Payload is not used): a payload in
// parts goes out without being copied together first.
func AppendPublishHeader(dst []byte, v byte, p *Publish, n int) []byte {
	b0 := PUBLISH<<4 | (p.QoS&3)<<1
	if p.Retain {
		b0 |= 0x01
	}
	if p.Dup && p.QoS > 0 {
		b0 |= 0x08
	}
	rem := 2 + len(p.Topic) + n
	if p.QoS > 0 {
		rem += 2
	}
	if v == V5 {
		rem++
	}
	dst = appendVarint(append(dst, b0), rem)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = append(dst, 0)
	}
	return dst
}

// CheckTopic tells whether topic may be published to: a non-empty UTF-8
// string of at most 65,535 bytes without wildcards or U+0000 (§4.7).
func CheckTopic(topic []byte) error {
	if len(topic) == 0 {
		return malformed("empty topic name")
	}
	if err := checkString("topic "+string(topic), topic); err != nil {
		return err
	}
	for _, b := range topic {
		if b == '+' || b == '#' {
			return malformed("topic %q has a wildcard: publish to a topic name, subscribe with filters", topic)
		}
	}
	return nil
}

// AppendAck appends a PUBACK, PUBREC, PUBREL or PUBCOMP (t) for packet id.
// At 5.0 a non-zero reason is written; success is left implicit, as §3.4.2.1
// allows.
func AppendAck(dst []byte, v, t byte, id uint16, reason byte) []byte {
	b0 := t << 4
	if t == PUBREL {
		b0 |= 0x02
	}
	if v == V5 && reason != 0 {
		return append(dst, b0, 3, byte(id>>8), byte(id), reason)
	}
	return append(dst, b0, 2, byte(id>>8), byte(id))
}

// AppendSubscribe appends a SUBSCRIBE of one topic filter at the given
// maximum QoS. The caller keeps the filter valid (CheckFilter).
func AppendSubscribe(dst []byte, v byte, id uint16, filter []byte, qos byte) []byte {
	rem := 2 + 2 + len(filter) + 1
	if v == V5 {
		rem++
	}
	dst = appendVarint(append(dst, SUBSCRIBE<<4|0x02), rem)
	dst = appendUint16(dst, id)
	if v == V5 {
		dst = append(dst, 0)
	}
	dst = appendString(dst, filter)
	return append(dst, qos&3)
}

// CheckFilter tells whether filter is a valid topic filter (§4.7.1): '#'
// only last and alone in its level, '+' alone in its level.
func CheckFilter(filter []byte) error {
	if len(filter) == 0 {
		return malformed("empty topic filter")
	}
	if err := checkString("topic filter "+string(filter), filter); err != nil {
		return err
	}
	for i, b := range filter {
		before := i == 0 || filter[i-1] == '/'
		after := i == len(filter)-1 || filter[i+1] == '/'
		switch {
		case b == '#' && (!before || i != len(filter)-1):
			return malformed("topic filter %q: '#' must be the whole last level", filter)
		case b == '+' && (!before || !after):
			return malformed("topic filter %q: '+' must be a whole level", filter)
		}
	}
	return nil
}

// AppendPingreq appends a PINGREQ.
func AppendPingreq(dst []byte) []byte { return append(dst, PINGREQ<<4, 0) }

// AppendDisconnect appends a DISCONNECT; at 5.0 with reason (0: normal
// disconnection, 0x04: disconnect with will message).
func AppendDisconnect(dst []byte, v, reason byte) []byte {
	if v == V5 && reason != 0 {
		return append(dst, DISCONNECT<<4, 1, reason)
	}
	return append(dst, DISCONNECT<<4, 0)
}
