package session

import (
	"encoding/binary"
	"fmt"

	"github.com/imtool/imtool/internal/mqtt"
)

// Input handles bytes that arrived at rx and returns how many it used; the
// driver keeps the rest and hands it back in front of the next bytes (a
// packet split across reads). ok false: the session ended the connection
// (Gone said why).
func (s *Session) Input(data []byte, rx int64) (used int, ok bool) {
	max := s.cfg.MaxPacket
	if max == 0 {
		max = 1 << 20
	}
	for used < len(data) && s.state != stClosed {
		p, n, err := mqtt.Parse(data[used:], s.v, max)
		if err != nil {
			return used, s.gone(mqtt.ClassProtocol, "bad packet from the broker: "+err.Error(), err)
		}
		if n == 0 {
			break
		}
		used += n
		if !s.packet(&p, rx) {
			return used, false
		}
	}
	return used, s.state != stClosed
}

func (s *Session) packet(p *mqtt.Packet, rx int64) bool {
	if s.state == stConnecting && p.Type != mqtt.CONNACK {
		return s.gone(mqtt.ClassProtocol, mqtt.TypeName(p.Type)+" before CONNACK", nil)
	}
	switch p.Type {
	case mqtt.CONNACK:
		return s.connack(p, rx)
	case mqtt.PINGRESP:
		if !s.pinging {
			return s.gone(mqtt.ClassProtocol, "PINGRESP without a PINGREQ", nil)
		}
		s.Counts.Pongs++
		s.d.Record(Heartbeat, rx-s.pingAt)
		s.pinging = false
		return true
	case mqtt.PUBLISH:
		return s.publish(p, rx)
	case mqtt.PUBACK, mqtt.PUBREC, mqtt.PUBCOMP:
		return s.ack(p, rx)
	case mqtt.PUBREL:
		// Deliver-once (method B, §4.3.3): the id is free again.
		reason := byte(0)
		if _, ok := s.rel[p.PacketID]; ok {
			delete(s.rel, p.PacketID)
		} else {
			reason = 0x92 // packet identifier not found (5.0 only)
		}
		*s.out = mqtt.AppendAck((*s.out)[:0], s.v, mqtt.PUBCOMP, p.PacketID, reason)
		return s.write(*s.out)
	case mqtt.SUBACK:
		return s.suback(p, rx)
	case mqtt.DISCONNECT:
		if s.v == mqtt.V311 {
			break // a 3.1.1 broker closes without one (§3.14)
		}
		class := mqtt.Class(s.v, mqtt.DISCONNECT, p.Reason)
		if class == "" {
			class = mqtt.ClassDisconnected
		}
		return s.gone(class, mqtt.CodeText(s.v, mqtt.DISCONNECT, p.Reason)+reasonString(p), nil)
	}
	return s.gone(mqtt.ClassProtocol, "unexpected "+mqtt.TypeName(p.Type)+" from the broker", nil)
}

func reasonString(p *mqtt.Packet) string {
	if len(p.Props.ReasonString) == 0 {
		return ""
	}
	return ": " + string(p.Props.ReasonString)
}

func (s *Session) connack(p *mqtt.Packet, rx int64) bool {
	if s.state != stConnecting {
		return s.gone(mqtt.ClassProtocol, "a second CONNACK", nil)
	}
	s.d.Record(Connect, rx-s.t0)
	if class := mqtt.Class(s.v, mqtt.CONNACK, p.Reason); class != "" {
		text := mqtt.CodeText(s.v, mqtt.CONNACK, p.Reason) + reasonString(p)
		if len(p.Props.ServerReference) > 0 {
			text += " (server reference " + string(p.Props.ServerReference) + ")"
		}
		return s.gone(class, text, nil)
	}
	s.state, s.keepAlive = stHeld, s.cfg.Connect.KeepAlive
	s.window = s.cfg.MaxInflight
	if s.window == 0 {
		s.window = 65535
	}
	if s.v == mqtt.V5 {
		if r := p.Props.ReceiveMax; r != 0 && r < s.window {
			s.window = r
		}
		if p.Props.HasKeepAlive {
			s.keepAlive = p.Props.ServerKeepAlive
		}
		if p.Props.HasMaxQoS {
			s.maxQoS = p.Props.MaxQoS
		}
		s.maxOut = p.Props.MaxPacketSize
	}
	s.d.Held()
	return s.state != stClosed
}

// ack handles PUBACK, PUBREC and PUBCOMP of a publish of ours.
func (s *Session) ack(p *mqtt.Packet, rx int64) bool {
	f, ok := s.flights[p.PacketID]
	switch {
	case !ok || f.kind != kindPub,
		p.Type == mqtt.PUBACK && f.qos != 1,
		p.Type == mqtt.PUBREC && (f.qos != 2 || f.rel),
		p.Type == mqtt.PUBCOMP && (f.qos != 2 || !f.rel):
		want := map[byte]string{mqtt.PUBACK: "QoS 1", mqtt.PUBREC: "QoS 2", mqtt.PUBCOMP: "QoS 2 after PUBREL"}
		return s.gone(mqtt.ClassProtocol, fmt.Sprintf("%s for packet id %d, which has no %s publish in flight",
			mqtt.TypeName(p.Type), p.PacketID, want[p.Type]), nil)
	}
	if p.Reason >= 0x80 { // 5.0: the broker refused the message; nothing more comes for it
		delete(s.flights, p.PacketID)
		s.pubs--
		s.Counts.Refused[f.qos]++
		s.Counts.LastRefusal = mqtt.CodeText(s.v, p.Type, p.Reason) + reasonString(p)
		return true
	}
	switch p.Type {
	case mqtt.PUBREC:
		f.rel = true
		s.flights[p.PacketID] = f
		*s.out = mqtt.AppendAck((*s.out)[:0], s.v, mqtt.PUBREL, p.PacketID, 0)
		return s.write(*s.out)
	case mqtt.PUBACK:
		s.d.Record(PubAck, rx-f.t0)
	case mqtt.PUBCOMP:
		s.d.Record(PubComp, rx-f.t0)
	}
	delete(s.flights, p.PacketID)
	s.pubs--
	s.Counts.Acked[f.qos]++
	return true
}

func (s *Session) suback(p *mqtt.Packet, rx int64) bool {
	f, ok := s.flights[p.PacketID]
	if !ok || f.kind != kindSub {
		return s.gone(mqtt.ClassProtocol, fmt.Sprintf("SUBACK for packet id %d, which has no SUBSCRIBE in flight", p.PacketID), nil)
	}
	delete(s.flights, p.PacketID)
	s.d.Record(SubAck, rx-f.t0)
	code := p.Payload[0]
	if code >= 0x80 {
		class := mqtt.ClassTopicRefused
		if s.v == mqtt.V5 && code == 0x87 {
			class = mqtt.ClassNotAuthorized
		}
		return s.gone(class, fmt.Sprintf("SUBACK 0x%02X %s", code, refusedName(s.v, code))+reasonString(p), nil)
	}
	s.Counts.Subscribed++
	return true
}

func refusedName(v, code byte) string {
	if v == mqtt.V311 {
		return "failure"
	}
	return mqtt.CodeText(v, mqtt.SUBACK, code)[len("SUBACK 0x00 "):]
}

// publish handles a PUBLISH from the broker: acknowledged as its QoS asks
// (QoS 2: PUBREC now, delivered once even when the broker sends it again
// before PUBREL), then counted and timed when it is a swarm message.
func (s *Session) publish(p *mqtt.Packet, rx int64) bool {
	switch p.QoS {
	case 1:
		*s.out = mqtt.AppendAck((*s.out)[:0], s.v, mqtt.PUBACK, p.PacketID, 0)
		if !s.write(*s.out) {
			return false
		}
	case 2:
		_, again := s.rel[p.PacketID]
		if s.rel == nil {
			s.rel = make(map[uint16]struct{})
		}
		s.rel[p.PacketID] = struct{}{}
		*s.out = mqtt.AppendAck((*s.out)[:0], s.v, mqtt.PUBREC, p.PacketID, 0)
		if !s.write(*s.out) {
			return false
		}
		if again {
			s.Counts.Redelivered++
			return true
		}
	}
	pl := p.Payload
	if len(pl) < HeaderLen || pl[0] != 'i' || pl[1] != 'm' || pl[2] != 'q' || pl[3] > 2 {
		s.Counts.Foreign++
		s.d.Message(p.Topic, pl)
		return true
	}
	qos := pl[3]
	if p.Retain { // from the broker's retained store, not this publish's delivery
		s.Counts.Retained[qos]++
		return true
	}
	s.Counts.Received[qos]++
	pub, seq := binary.BigEndian.Uint32(pl[12:]), binary.BigEndian.Uint64(pl[16:])
	if s.seen == nil {
		s.seen = make(map[uint32]window)
	}
	w := s.seen[pub]
	if !w.add(seq) {
		s.Counts.Duplicated[qos]++
		return true
	}
	s.seen[pub] = w
	s.d.Record(Deliver, rx-int64(binary.BigEndian.Uint64(pl[4:])))
	return true
}
