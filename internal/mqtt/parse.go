package mqtt

import (
	"encoding/binary"
	"unicode/utf8"
)

// Packet is one parsed packet. Byte slices are views into the parsed input.
type Packet struct {
	Type  byte
	Flags byte // low nibble of the first byte
	// PacketID of PUBLISH at QoS 1/2, the four acknowledgements, SUBACK,
	// UNSUBACK (and SUBSCRIBE, UNSUBSCRIBE).
	PacketID uint16
	// Reason is the CONNACK return code (3.1.1) or reason code (5.0), the
	// reason code of a 5.0 PUBACK..PUBCOMP, DISCONNECT or AUTH; 0 success.
	Reason         byte
	SessionPresent bool // CONNACK
	QoS            byte // PUBLISH
	Retain, Dup    bool // PUBLISH
	Topic          []byte
	// Payload is a PUBLISH's application message, the return or reason
	// codes of a SUBACK or UNSUBACK, and for CONNECT, SUBSCRIBE and
	// UNSUBSCRIBE the packet after the fixed header (ParseConnect reads it).
	Payload []byte
	Props   Props // 5.0 properties the client acts on
}

// Props are the 5.0 properties a client acts on; zero when absent.
type Props struct {
	ReceiveMax       uint16 // CONNACK: the broker's in-flight window for QoS 1/2 (0: absent, 65,535)
	ServerKeepAlive  uint16 // CONNACK: the keep alive the broker imposes
	HasKeepAlive     bool
	MaxQoS           byte // CONNACK
	HasMaxQoS        bool
	MaxPacketSize    uint32 // CONNACK
	TopicAliasMax    uint16 // CONNACK
	TopicAlias       uint16 // PUBLISH
	SessionExpiry    uint32
	AssignedClientID []byte // CONNACK
	ReasonString     []byte
	ServerReference  []byte // CONNACK, DISCONNECT: the server to use instead
}

// Parse reads the first packet of b for protocol level v (V311 or V5): the
// packet and its length, or n 0 when b does not hold all of it yet. A
// packet longer than max bytes (0: no limit but the protocol's) is an
// error before its body arrives, as is anything the spec calls malformed.
func Parse(b []byte, v byte, max int) (p Packet, n int, err error) {
	if len(b) < 2 {
		return p, 0, nil
	}
	rem, vn, err := readVarint(b[1:])
	if err != nil || vn == 0 {
		return p, 0, err
	}
	total := 1 + vn + rem
	if max > 0 && total > max {
		return p, 0, malformed("%s of %d bytes is larger than the %d allowed", TypeName(b[0]>>4), total, max)
	}
	if len(b) < total {
		return p, 0, nil
	}
	p.Type, p.Flags = b[0]>>4, b[0]&0x0F
	if err := p.body(b[1+vn:total], v); err != nil {
		return p, 0, err
	}
	return p, total, nil
}

// wantFlags are the fixed-header flags each type must carry (§2.1.3);
// 0xFF: any (PUBLISH).
var wantFlags = [16]byte{CONNECT: 0, PUBLISH: 0xFF, PUBREL: 2, SUBSCRIBE: 2, UNSUBSCRIBE: 2}

func (p *Packet) body(b []byte, v byte) error {
	if p.Type == 0 || (p.Type == AUTH && v != V5) {
		return malformed("packet type %d is reserved", p.Type)
	}
	if w := wantFlags[p.Type]; w != 0xFF && p.Flags != w {
		return malformed("%s with flags %#x (must be %#x)", TypeName(p.Type), p.Flags, w)
	}
	switch p.Type {
	case CONNECT, SUBSCRIBE, UNSUBSCRIBE:
		if p.Type != CONNECT {
			if len(b) < 2 {
				return malformed("%s without a packet identifier", TypeName(p.Type))
			}
			p.PacketID = binary.BigEndian.Uint16(b)
		}
		p.Payload = b
		return nil
	case CONNACK:
		if len(b) < 2 || (v == V311 && len(b) != 2) {
			return malformed("CONNACK of %d bytes", len(b))
		}
		if b[0]&0xFE != 0 {
			return malformed("CONNACK acknowledge flags %#x (bits 7-1 are reserved)", b[0])
		}
		p.SessionPresent, p.Reason = b[0] == 1, b[1]
		return p.props(b[2:], v, true)
	case PUBLISH:
		return p.publish(b, v)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		if len(b) < 2 || (v == V311 && len(b) != 2) {
			return malformed("%s of %d bytes", TypeName(p.Type), len(b))
		}
		p.PacketID = binary.BigEndian.Uint16(b)
		if p.PacketID == 0 {
			return malformed("%s with packet identifier 0", TypeName(p.Type))
		}
		if len(b) > 2 {
			p.Reason = b[2]
			return p.props(b[3:], v, true)
		}
		return nil
	case SUBACK, UNSUBACK:
		if len(b) < 2 {
			return malformed("%s of %d bytes", TypeName(p.Type), len(b))
		}
		p.PacketID = binary.BigEndian.Uint16(b)
		rest, err := p.leadingProps(b[2:], v)
		if err != nil {
			return err
		}
		if len(rest) == 0 && (p.Type == SUBACK || v == V5) {
			return malformed("%s without reason codes", TypeName(p.Type))
		}
		p.Payload = rest
		return nil
	case PINGREQ, PINGRESP:
		if len(b) != 0 {
			return malformed("%s with %d bytes after the fixed header", TypeName(p.Type), len(b))
		}
		return nil
	case DISCONNECT, AUTH:
		if v == V311 {
			if len(b) != 0 {
				return malformed("3.1.1 DISCONNECT with %d bytes after the fixed header", len(b))
			}
			return nil
		}
		if len(b) > 0 {
			p.Reason = b[0]
			return p.props(b[1:], v, true)
		}
		return nil
	}
	return nil
}

func (p *Packet) publish(b []byte, v byte) error {
	p.QoS, p.Retain, p.Dup = (p.Flags>>1)&3, p.Flags&1 == 1, p.Flags&8 == 8
	if p.QoS == 3 {
		return malformed("PUBLISH with QoS 3")
	}
	if p.QoS == 0 && p.Dup {
		return malformed("PUBLISH with DUP set at QoS 0")
	}
	if len(b) < 2 {
		return malformed("PUBLISH without a topic")
	}
	tl := int(binary.BigEndian.Uint16(b))
	if 2+tl > len(b) {
		return malformed("PUBLISH topic of %d bytes overruns the packet", tl)
	}
	p.Topic = b[2 : 2+tl]
	if !utf8.Valid(p.Topic) {
		return malformed("PUBLISH topic is not UTF-8")
	}
	rest := b[2+tl:]
	if p.QoS > 0 {
		if len(rest) < 2 {
			return malformed("PUBLISH at QoS %d without a packet identifier", p.QoS)
		}
		p.PacketID = binary.BigEndian.Uint16(rest)
		if p.PacketID == 0 {
			return malformed("PUBLISH at QoS %d with packet identifier 0", p.QoS)
		}
		rest = rest[2:]
	}
	rest, err := p.leadingProps(rest, v)
	if err != nil {
		return err
	}
	if len(p.Topic) == 0 && p.Props.TopicAlias == 0 {
		return malformed("PUBLISH with an empty topic and no topic alias")
	}
	p.Payload = rest
	return nil
}

// leadingProps reads the 5.0 property list at the start of b and returns
// what follows it; at 3.1.1 it returns b.
func (p *Packet) leadingProps(b []byte, v byte) ([]byte, error) {
	if v != V5 {
		return b, nil
	}
	plen, n, err := readVarint(b)
	if err != nil || n == 0 || n+plen > len(b) {
		return nil, malformed("%s properties overrun the packet", TypeName(p.Type))
	}
	return b[n+plen:], p.props(b[:n+plen], v, false)
}

// props reads a 5.0 property list (length first) that must fill b exactly;
// optional: b may be empty (a packet that ends before its properties).
func (p *Packet) props(b []byte, v byte, optional bool) error {
	if v != V5 {
		if len(b) != 0 {
			return malformed("%s has %d bytes too many", TypeName(p.Type), len(b))
		}
		return nil
	}
	if len(b) == 0 && optional {
		return nil
	}
	plen, n, err := readVarint(b)
	if err != nil || n == 0 || n+plen != len(b) {
		return malformed("%s property length does not match the packet", TypeName(p.Type))
	}
	b = b[n:]
	pr := &p.Props
	for len(b) > 0 {
		id := b[0]
		b = b[1:]
		var u16 uint16
		var u32 uint32
		var str []byte
		switch id {
		case propPayloadFormat, propRequestProblem, propRequestResponse, propMaxQoS, propRetainAvailable,
			propWildcardAvailable, propSubIDAvailable, propSharedAvailable:
			if len(b) < 1 {
				return malformed("property %#x cut short", id)
			}
			if id == propMaxQoS {
				if b[0] > 1 {
					return malformed("Maximum QoS %d (must be 0 or 1)", b[0])
				}
				pr.MaxQoS, pr.HasMaxQoS = b[0], true
			}
			b = b[1:]
		case propServerKeepAlive, propReceiveMax, propTopicAliasMax, propTopicAlias:
			if len(b) < 2 {
				return malformed("property %#x cut short", id)
			}
			u16, b = binary.BigEndian.Uint16(b), b[2:]
			switch id {
			case propServerKeepAlive:
				pr.ServerKeepAlive, pr.HasKeepAlive = u16, true
			case propReceiveMax:
				if u16 == 0 {
					return malformed("Receive Maximum 0")
				}
				pr.ReceiveMax = u16
			case propTopicAliasMax:
				pr.TopicAliasMax = u16
			case propTopicAlias:
				if u16 == 0 {
					return malformed("Topic Alias 0")
				}
				pr.TopicAlias = u16
			}
		case propMessageExpiry, propSessionExpiry, propWillDelay, propMaxPacketSize:
			if len(b) < 4 {
				return malformed("property %#x cut short", id)
			}
			u32, b = binary.BigEndian.Uint32(b), b[4:]
			switch id {
			case propSessionExpiry:
				pr.SessionExpiry = u32
			case propMaxPacketSize:
				if u32 == 0 {
					return malformed("Maximum Packet Size 0")
				}
				pr.MaxPacketSize = u32
			}
		case propSubscriptionID:
			_, n, err := readVarint(b)
			if err != nil || n == 0 {
				return malformed("Subscription Identifier cut short")
			}
			b = b[n:]
		case propContentType, propResponseTopic, propAssignedClientID, propAuthMethod,
			propResponseInfo, propServerReference, propReasonString, propCorrelationData, propAuthData:
			if str, b, err = lenPrefixed(b, id); err != nil {
				return err
			}
			switch id {
			case propAssignedClientID:
				pr.AssignedClientID = str
			case propReasonString:
				pr.ReasonString = str
			case propServerReference:
				pr.ServerReference = str
			}
		case propUserProperty:
			if _, b, err = lenPrefixed(b, id); err != nil {
				return err
			}
			if _, b, err = lenPrefixed(b, id); err != nil {
				return err
			}
		default:
			return malformed("unknown property %#x in %s", id, TypeName(p.Type))
		}
	}
	return nil
}

func lenPrefixed(b []byte, id byte) (s, rest []byte, err error) {
	if len(b) < 2 || 2+int(binary.BigEndian.Uint16(b)) > len(b) {
		return nil, nil, malformed("property %#x overruns the packet", id)
	}
	l := 2 + int(binary.BigEndian.Uint16(b))
	return b[2:l], b[l:], nil
}

// ParseConnect reads a CONNECT's body (Packet.Payload of a CONNECT) back
// into a Connect: what a broker reads. Slices are views into body.
func ParseConnect(body []byte) (c Connect, err error) {
	if len(body) < 10 || string(body[:6]) != "\x00\x04MQTT" {
		return c, malformed("CONNECT without the protocol name MQTT")
	}
	c.Version = body[6]
	if c.Version != V311 && c.Version != V5 {
		return c, malformed("CONNECT at protocol level %d", c.Version)
	}
	flags := body[7]
	if flags&1 != 0 {
		return c, malformed("CONNECT reserved flag set")
	}
	c.CleanStart = flags&2 != 0
	c.KeepAlive = binary.BigEndian.Uint16(body[8:])
	b := body[10:]
	p := Packet{Type: CONNECT}
	if b, err = p.leadingProps(b, c.Version); err != nil {
		return c, err
	}
	c.SessionExpiry, c.ReceiveMax, c.MaxPacketSize = p.Props.SessionExpiry, p.Props.ReceiveMax, p.Props.MaxPacketSize
	if c.ClientID, b, err = lenPrefixed(b, 0); err != nil {
		return c, malformed("CONNECT client id overruns the packet")
	}
	if flags&0x04 != 0 {
		w := &Will{QoS: flags >> 3 & 3, Retain: flags&0x20 != 0}
		if w.QoS == 3 {
			return c, malformed("CONNECT will QoS 3")
		}
		if b, err = p.leadingProps(b, c.Version); err != nil {
			return c, err
		}
		if w.Topic, b, err = lenPrefixed(b, 0); err != nil {
			return c, malformed("CONNECT will topic overruns the packet")
		}
		if w.Payload, b, err = lenPrefixed(b, 0); err != nil {
			return c, malformed("CONNECT will payload overruns the packet")
		}
		c.Will = w
	} else if flags&0x38 != 0 {
		return c, malformed("CONNECT will QoS or retain set without a will")
	}
	if flags&0x80 != 0 {
		if c.Username, b, err = lenPrefixed(b, 0); err != nil {
			return c, malformed("CONNECT user name overruns the packet")
		}
	}
	if flags&0x40 != 0 {
		if c.Password, b, err = lenPrefixed(b, 0); err != nil {
			return c, malformed("CONNECT password overruns the packet")
		}
	}
	if len(b) != 0 {
		return c, malformed("CONNECT has %d bytes after its payload", len(b))
	}
	return c, nil
}
