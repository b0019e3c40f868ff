// Package session is one MQTT client connection as a state machine: CONNECT
// → CONNACK, keep-alive PINGREQ → PINGRESP timed as the heartbeat,
// SUBSCRIBE → SUBACK, PUBLISH at QoS 0, 1 and 2 with packet identifiers of
// its own and an in-flight window that honours the broker's 5.0 Receive
// Maximum, and the receiving side of QoS 1 and 2. It measures publish →
// PUBACK (QoS 1), publish → PUBCOMP (QoS 2) and publish → delivered (end to
// end, through a timestamp in the payload), and counts per QoS what was
// sent, acknowledged, received and duplicated.
//
// A Session holds no socket, goroutine or timer: the engine that drives it
// dials, reads, writes and keeps time, and calls it with bytes in and the
// time they arrived (Input), when a heartbeat is due (Beat) and when a
// message is due (Publish). The session answers through Driver: bytes to
// write, the connection held or gone with an error class, latency samples.
// This is the shape of the swarm's client protocol layer (loadclient's
// proto and endpoint in the protocol-layer branch, commit 1dfd32d,
// unchanged through 1c61fe3): an adapter there maps open/input/beat/send onto
// Open/Input/Beat/Publish and endpoint.write/held/gone onto Driver.
//
// Every time a Session is given or reports is in nanoseconds on one clock
// the driver chooses; end-to-end latency is right only when the publishing
// and the subscribing sessions share it (one process, or hosts in sync).
// A Session is not safe for concurrent use: its driver serializes calls.
package session

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/imtool/imtool/internal/mqtt"
)

// Driver is what a Session asks of the engine that drives it.
type Driver interface {
	// Write sends b now or queues it (the session reuses b afterwards);
	// false: the connection is closed.
	Write(b []byte) bool
	// Held reports the CONNACK that accepted the connection.
	Held()
	// Gone reports that the session ended the connection: the error
	// class (mqtt.Class*), an example with the broker's code (mqtt.CodeText)
	// and the error, if any. The driver closes the socket.
	Gone(class, text string, err error)
	// Record is one latency sample of series s, in nanoseconds.
	Record(s Series, ns int64)
	// Message hands over a PUBLISH whose payload is not a swarm message
	// (a $SYS count, another client's): views valid during the call only.
	Message(topic, payload []byte)
}

// Series are the latencies a Session measures.
type Series uint8

const (
	Connect   Series = iota // CONNECT written → CONNACK read
	Heartbeat               // PINGREQ written → PINGRESP read
	PubAck                  // QoS 1 PUBLISH written → PUBACK read
	PubComp                 // QoS 2 PUBLISH written → PUBCOMP read
	Deliver                 // publish time in the payload → PUBLISH read by a subscriber
	SubAck                  // SUBSCRIBE written → SUBACK read
	NumSeries
)

var seriesNames = [NumSeries]string{"mqtt_connect", "mqtt_heartbeat", "mqtt_puback", "mqtt_pubcomp", "mqtt_deliver", "mqtt_suback"}

func (s Series) String() string { return seriesNames[s] }

// Config is what every connection of a swarm shares.
type Config struct {
	// Connect is the CONNECT every connection sends (Version, clean
	// start, keep alive, will, properties), with the fields of its
	// Identity put in.
	Connect mqtt.Connect
	// MaxInflight caps QoS 1 and 2 publishes awaiting their
	// acknowledgement; the broker's Receive Maximum lowers it (0: 65,535,
	// the protocol's limit).
	MaxInflight uint16
	// MaxPacket is the largest packet accepted from the broker (0: 1 MiB).
	MaxPacket int
}

// Identity is what differs per connection, filled by the engine from its
// templates (--client-id 'imtool-{i}', --username, --password); nil
// fields keep Config.Connect's.
type Identity struct {
	ClientID []byte
	Username []byte
	Password []byte
	// Publisher identifies this connection in the payloads it publishes,
	// so subscribers can tell duplicates apart (the connection's index).
	Publisher uint32
}

// Connection states.
const (
	stNew uint8 = iota
	stConnecting
	stHeld
	stClosed
)

// flight is a packet of ours awaiting its acknowledgement.
type flight struct {
	t0   int64 // when it was written
	qos  uint8 // 1, 2; 0 for a SUBSCRIBE
	rel  bool  // QoS 2: PUBREC read, PUBREL written
	kind uint8 // kindPub or kindSub
}

const (
	kindPub uint8 = iota
	kindSub
)

// Session is one MQTT client connection.
type Session struct {
	d         Driver
	cfg       *Config
	v         byte
	state     uint8
	maxQoS    byte
	pinging   bool   // a PINGREQ is unanswered
	window    uint16 // QoS 1/2 publishes allowed in flight
	pubs      uint16 // QoS 1/2 publishes in flight
	nextID    uint16
	keepAlive uint16 // seconds, as the broker settled it
	maxOut    uint32 // the broker's Maximum Packet Size (0: none)
	t0        int64  // CONNECT written
	pingAt    int64  // when the unanswered PINGREQ was written
	seq       uint64
	publisher uint32
	flights   map[uint16]flight   // ours awaiting acks, by packet id
	rel       map[uint16]struct{} // QoS 2 received, PUBREL not yet
	seen      map[uint32]window   // per publisher: what was delivered
	out       *[]byte             // where packets are built before Write
	// Counts is where the session counts: its own, or one an engine
	// points every session of one goroutine at (a loop's), to be summed
	// without walking the sessions.
	Counts *Counts
}

// New makes the session of one connection; cfg is shared and not changed.
// Packets are built in *scratch before Write: an engine that runs many
// sessions on one goroutine passes one buffer for all of them (a
// connection then costs no buffer of its own); nil gives the session its
// own.
func New(d Driver, cfg *Config, scratch *[]byte) *Session {
	return NewCounting(d, cfg, scratch, new(Counts))
}

// NewCounting is New counting into counts, which an engine shares among
// the sessions of one goroutine: a connection then costs no count of its
// own, and the engine sums one count instead of walking its sessions.
func NewCounting(d Driver, cfg *Config, scratch *[]byte, counts *Counts) *Session {
	if scratch == nil {
		scratch = new([]byte)
	}
	return &Session{d: d, cfg: cfg, v: cfg.Connect.Version, maxQoS: 2, out: scratch, Counts: counts}
}

// Open writes the CONNECT of connection id at now, when TCP (or TLS) is
// up. false: the connection was closed (or the CONNECT could not be built:
// Gone says why).
func (s *Session) Open(now int64, id *Identity) bool {
	c := s.cfg.Connect
	if id != nil {
		s.publisher = id.Publisher
		if id.ClientID != nil {
			c.ClientID = id.ClientID
		}
		if id.Username != nil {
			c.Username = id.Username
		}
		if id.Password != nil {
			c.Password = id.Password
		}
	}
	out, err := mqtt.AppendConnect((*s.out)[:0], &c)
	if err != nil {
		return s.gone(mqtt.ClassProtocol, "CONNECT not sent", err)
	}
	*s.out, s.state, s.t0 = out, stConnecting, now
	return s.write(out)
}

// Held tells whether the broker accepted the connection and it is open.
func (s *Session) Held() bool { return s.state == stHeld }

// KeepAlive is the keep-alive in seconds the connection runs with: the
// CONNECT's, or the 5.0 Server Keep Alive the broker imposed. The driver
// calls Beat at least this often (0: no keep-alive).
func (s *Session) KeepAlive() uint16 {
	if s.state == stHeld {
		return s.keepAlive
	}
	return s.cfg.Connect.KeepAlive
}

// Window is how many QoS 1 and 2 publishes may be in flight.
func (s *Session) Window() uint16 { return s.window }

func (s *Session) write(b []byte) bool {
	if s.state == stClosed {
		return false
	}
	if !s.d.Write(b) {
		s.closed()
		return false
	}
	return true
}

func (s *Session) gone(class, text string, err error) bool {
	if s.state != stClosed {
		s.closed()
		s.d.Gone(class, text, err)
	}
	return false
}

// closed moves what was in flight to Unacked: never acknowledged, so
// never counted as acknowledged.
func (s *Session) closed() {
	s.state = stClosed
	for id, f := range s.flights {
		if f.kind == kindPub {
			s.Counts.Unacked[f.qos]++
		}
		delete(s.flights, id)
	}
	s.pubs = 0
}

// Ended tells the session its connection ended under it (EOF, reset, a
// driver's timeout) and returns the class when that was a refusal: a
// broker that closes before its CONNACK (mosquitto at max_connections) is
// ClassClosedAtConnect; after the CONNACK it returns "" and the driver
// classifies the error as it does for any protocol.
func (s *Session) Ended() string {
	was := s.state
	s.closed()
	if was == stConnecting {
		return mqtt.ClassClosedAtConnect
	}
	return ""
}

// Close writes a DISCONNECT (reason 0) and ends the session; what is still
// in flight is counted as unacknowledged.
func (s *Session) Close() {
	if s.state == stHeld {
		*s.out = mqtt.AppendDisconnect((*s.out)[:0], s.v, 0)
		s.write(*s.out)
	}
	s.closed()
}

// Beat is the keep-alive due at now: a PINGREQ, unless one is still
// unanswered (then counted in PingsLate: the broker or the path is slow).
func (s *Session) Beat(now int64) bool {
	if s.state != stHeld {
		return s.state != stClosed
	}
	if s.pinging {
		s.Counts.PingsLate++
		return true
	}
	s.pinging, s.pingAt = true, now
	s.Counts.Pings++
	*s.out = mqtt.AppendPingreq((*s.out)[:0])
	return s.write(*s.out)
}

// id is a free packet identifier, 0 when all 65,535 are in flight.
func (s *Session) id() uint16 {
	for range 65535 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, used := s.flights[s.nextID]; !used {
			return s.nextID
		}
	}
	return 0
}

func (s *Session) track(id uint16, f flight) {
	if s.flights == nil {
		s.flights = make(map[uint16]flight)
	}
	s.flights[id] = f
}

// Subscribe writes a SUBSCRIBE of filter at maximum QoS qos at now; its
// SUBACK is timed. A refused subscription ends the session
// (mqtt.ClassTopicRefused): a load test that does not receive is not one.
func (s *Session) Subscribe(filter []byte, qos byte, now int64) error {
	if err := mqtt.CheckFilter(filter); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("subscribe QoS %d: QoS is 0, 1 or 2", qos)
	}
	if s.state != stHeld {
		return ErrNotHeld
	}
	id := s.id()
	if id == 0 {
		return ErrWindowFull
	}
	s.track(id, flight{t0: now, kind: kindSub})
	*s.out = mqtt.AppendSubscribe((*s.out)[:0], s.v, id, filter, qos)
	if !s.write(*s.out) {
		return ErrNotHeld
	}
	return nil
}

// Errors of Publish and Subscribe.
var (
	ErrNotHeld    = errors.New("mqtt: the connection is not (or no longer) accepted by the broker")
	ErrWindowFull = errors.New("mqtt: the in-flight window is full (the broker's Receive Maximum): the message was not sent")
)

// HeaderLen is the length of the header a Session puts in front of every
// payload it publishes: "imq", the QoS, the publish time (8 bytes, big
// endian), the publisher (4) and its sequence number (8).
const HeaderLen = 24

// Publish writes one PUBLISH of topic at qos at now, its payload the
// header (HeaderLen bytes) then body. With qos 1 or 2 it takes a packet
// identifier and a place in the in-flight window; when the window is full
// nothing is written, Counts.Blocked counts it and the error is
// ErrWindowFull. The topic must pass mqtt.CheckTopic (checked once by the
// caller, not per message).
func (s *Session) Publish(topic []byte, qos byte, retain bool, body []byte, now int64) error {
	if s.state != stHeld {
		return ErrNotHeld
	}
	if qos > s.maxQoS {
		return fmt.Errorf("mqtt: publish at QoS %d: the broker's Maximum QoS is %d (lower the QoS)", qos, s.maxQoS)
	}
	p := mqtt.Publish{Topic: topic, QoS: qos, Retain: retain}
	if qos > 0 {
		if s.pubs >= s.window {
			s.Counts.Blocked[qos]++
			return ErrWindowFull
		}
		if p.PacketID = s.id(); p.PacketID == 0 {
			s.Counts.Blocked[qos]++
			return ErrWindowFull
		}
	}
	s.seq++
	var h [HeaderLen]byte
	h[0], h[1], h[2], h[3] = 'i', 'm', 'q', qos
	binary.BigEndian.PutUint64(h[4:], uint64(now))
	binary.BigEndian.PutUint32(h[12:], s.publisher)
	binary.BigEndian.PutUint64(h[16:], s.seq)
	*s.out = mqtt.AppendPublishHeader((*s.out)[:0], s.v, &p, HeaderLen+len(body))
	*s.out = append(append((*s.out), h[:]...), body...)
	if s.maxOut != 0 && uint32(len((*s.out))) > s.maxOut {
		s.seq--
		return fmt.Errorf("mqtt: a PUBLISH of %d bytes exceeds the broker's Maximum Packet Size %d: lower the payload", len((*s.out)), s.maxOut)
	}
	if qos > 0 {
		s.track(p.PacketID, flight{t0: now, qos: qos, kind: kindPub})
		s.pubs++
	}
	s.Counts.Sent[qos]++
	if !s.write(*s.out) {
		return ErrNotHeld
	}
	return nil
}
