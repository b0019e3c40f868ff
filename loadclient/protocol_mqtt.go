package loadclient

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/imtool/imtool/internal/mqtt"
	"github.com/imtool/imtool/internal/mqtt/session"
	"github.com/imtool/imtool/internal/placeholder"
	"github.com/imtool/imtool/internal/stats"
)

// mqttProto is MQTT 3.1.1 and 5.0 (--proto mqtt) on the protocol layer:
// one internal/mqtt/session.Session per connection, kept by slot, driven
// by this loop's (or connection's) engine. A connection is held when its
// CONNACK accepted it, or, with --subscribe, when its SUBACK granted the
// subscription: held connections receive what is published to them.
// Heartbeats are PINGREQs timed by their PINGRESP; messages are PUBLISHes
// at --qos timed by their PUBACK (QoS 1) or PUBCOMP (QoS 2), and by their
// delivery to the subscriber (the publish time travels in the payload).
//
// The sessions count into one session.Counts of the proto, which every
// call adds to the loop's atomic counters and clears: the snapshot never
// reads a session.
type mqttProto struct {
	c      *core
	set    *mqttSetup
	k      *counters                    // the loop's, from the first call
	wrap   func(x *exch, b []byte) bool // over WebSocket: writes a binary message
	sess   []*session.Session
	drv    mqttDriver
	counts session.Counts
	seq    uint64

	scratch                  []byte // packets, built by the sessions
	id, user, pass           []byte
	topic, body, filter, sub []byte
}

func newMQTTProto(c *core) *mqttProto {
	p := &mqttProto{c: c, set: &c.mq}
	p.drv.p = p
	return p
}

// mqttDriver is the sessions' way back to the engine: the exch of the
// call under way.
type mqttDriver struct {
	p *mqttProto
	x *exch
}

func (d *mqttDriver) Write(b []byte) bool {
	if d.p.wrap != nil {
		return d.p.wrap(d.x, b)
	}
	return d.x.write(b)
}

func (p *mqttProto) carry(wrap func(*exch, []byte) bool) { p.wrap = wrap }

// Held: the CONNACK accepted the connection. Without --subscribe it is
// held now; with it, the SUBSCRIBE leaves and the SUBACK makes it held,
// within --login-timeout of the SUBSCRIBE (t0).
func (d *mqttDriver) Held() {
	p, x := d.p, d.x
	if !p.set.hasFilter {
		x.held()
		return
	}
	x.conn.t0 = x.c.now()
	p.sub = p.set.filter.Append(p.sub[:0], &placeholder.Values{UID: x.c.uid(x.g), I: uint64(x.g)})
	s := p.sess[x.slot]
	if err := s.Subscribe(p.sub, p.set.subQoS, int64(x.c.unix(x.c.now()))); err != nil && !errors.Is(err, session.ErrNotHeld) {
		x.gone(dropError, clsMQTT+mqttClass(mqtt.ClassTopicRefused), "SUBSCRIBE not sent", err)
	}
}

func (d *mqttDriver) Gone(class, text string, err error) {
	cause := dropError
	if strings.HasPrefix(text, "DISCONNECT") {
		cause = dropServerClose
	}
	d.x.gone(cause, clsMQTT+mqttClass(class), text, err)
}

func (d *mqttDriver) Record(s session.Series, ns int64) {
	i := latMQTTConnect
	switch s {
	case session.Heartbeat:
		i = latHeartbeat
	case session.PubAck:
		i = latMQTTPubAck
	case session.PubComp:
		i = latMQTTPubComp
	case session.Deliver:
		i = latDeliver
	case session.SubAck:
		i = latMQTTSubAck
	}
	d.x.record(i, ns)
}

func (*mqttDriver) Message(topic, payload []byte) {}

// call makes x the exch of the calls into sessions that follow.
func (p *mqttProto) call(x *exch) *session.Session {
	p.drv.x, p.k = x, x.k
	if int(x.slot) < len(p.sess) {
		return p.sess[x.slot]
	}
	return nil
}

func (p *mqttProto) open(x *exch) bool {
	c := x.c
	p.call(x)
	x.conn.state, x.conn.t0 = stLogin, c.now()
	for int(x.slot) >= len(p.sess) {
		p.sess = append(p.sess, nil)
	}
	s := session.NewCounting(&p.drv, &p.set.cfg, &p.scratch, &p.counts)
	p.sess[x.slot] = s
	v := placeholder.Values{UID: c.uid(x.g), I: uint64(x.g)}
	p.id = p.set.clientID.Append(p.id[:0], &v)
	// Sequence numbers from the connect time: after a redial (--reconnect,
	// --churn) the connection's messages still count as new ones.
	id := session.Identity{ClientID: p.id, Publisher: uint32(x.g), Seq: c.unix(x.conn.t0)}
	if p.set.hasUser {
		p.user = p.set.user.Append(p.user[:0], &v)
		id.Username = p.user
	}
	if p.set.hasPass {
		p.pass = p.set.pass.Append(p.pass[:0], &v)
		id.Password = p.pass
	}
	ok := s.Open(int64(c.unix(x.conn.t0)), &id)
	p.flush(x)
	return ok
}

func (p *mqttProto) input(x *exch, data []byte) (int, bool) {
	s := p.call(x)
	if s == nil {
		return len(data), true
	}
	used, ok := s.Input(data, int64(x.c.unix(x.rx)))
	if ok && x.conn.state == stLogin && p.counts.Subscribed > 0 {
		x.held() // the SUBACK granted the subscription
	}
	p.flush(x)
	return used, ok
}

func (p *mqttProto) beat(x *exch, planned int64) bool {
	s := p.call(x)
	if s == nil {
		return true
	}
	ok := s.Beat(int64(x.c.unix(planned)))
	p.flush(x)
	return ok
}

// send publishes one message from this connection to --publish, its
// {peer} a uid of the swarm drawn at random. A message the in-flight
// window has no room for is not sent (counted unsent and blocked).
func (p *mqttProto) send(x *exch, planned int64) bool {
	c, k := x.c, x.k
	s := p.call(x)
	if s == nil || !s.Held() {
		k.sent.Add(-1)
		return false
	}
	peer := int(x.rnd.next() % uint64(max(c.plan.Conns, 1)))
	p.seq++
	v := placeholder.Values{UID: c.uid(x.g), I: uint64(x.g), Peer: c.uid(peer), Seq: p.seq, TS: c.unix(planned)}
	p.topic = p.set.topic.Append(p.topic[:0], &v)
	p.body = p.set.body.Append(p.body[:0], &v)
	err := s.Publish(p.topic, p.set.qos, c.o.MQTT.Retain, p.body, int64(v.TS))
	if err != nil {
		k.sent.Add(-1)
		if !errors.Is(err, session.ErrNotHeld) {
			k.unsent.Add(1)
			if !errors.Is(err, session.ErrWindowFull) {
				c.example(clsMQTT+mqttClass(mqtt.ClassTopicRefused), x.g, "PUBLISH not sent", err)
			}
		}
		p.flush(x)
		return false
	}
	k.mq.expected[p.set.qos].Add(p.expected(x.g, peer))
	p.flush(x)
	if p.set.qos == 0 {
		return false
	}
	if x.conn.pending < ^uint16(0) {
		x.conn.pending++
	}
	return true
}

// expected is how many of the plan's subscriptions match p.topic, sent by
// connection g to peer: every connection's when the filter is the same for
// all (fan-out), else those of the peer, the sender and the connection the
// topic names where the filter has its {i} or {uid} (recipient), where
// their filters match. 0 when that cannot be known (expectUnknown).
func (p *mqttProto) expected(g, peer int) int64 {
	set, c := p.set, p.c
	if !set.hasFilter || set.expectUnknown {
		return 0
	}
	if !set.filterPerConn {
		if mqtt.Match(set.fixedFilter, p.topic) {
			return int64(c.plan.Conns)
		}
		return 0
	}
	cands := [3]int{peer, g, p.recipient()}
	var n int64
	for i, j := range cands {
		if j < 0 || j >= c.plan.Conns || i > 0 && j == cands[0] || i == 2 && j == cands[1] {
			continue
		}
		p.filter = set.filter.Append(p.filter[:0], &placeholder.Values{UID: c.uid(j), I: uint64(j)})
		if mqtt.Match(p.filter, p.topic) {
			n++
		}
	}
	return n
}

// recipient is the connection p.topic names after the filter's text
// before its {i} or {uid}, or -1.
func (p *mqttProto) recipient() int {
	set := p.set
	t := p.topic
	if len(t) <= len(set.recipientLit) || string(t[:len(set.recipientLit)]) != set.recipientLit {
		return -1
	}
	var v uint64
	d := 0
	for _, b := range t[len(set.recipientLit):] {
		if b < '0' || b > '9' || d == 19 {
			break
		}
		v, d = v*10+uint64(b-'0'), d+1
	}
	if d == 0 {
		return -1
	}
	if set.recipientUID {
		if v < p.c.o.UIDBase {
			return -1
		}
		v -= p.c.o.UIDBase
	}
	return int(min(v, uint64(p.c.plan.Conns)))
}

// bye writes a DISCONNECT (reason 0): the broker drops the will. What is
// still in flight is counted unacknowledged.
func (p *mqttProto) bye(x *exch) {
	if s := p.call(x); s != nil {
		s.Close()
		p.flush(x)
	}
}

func (p *mqttProto) drop(slot int32) {
	if int(slot) >= len(p.sess) || p.sess[slot] == nil {
		return
	}
	p.sess[slot].Ended()
	p.sess[slot] = nil
	if p.k != nil {
		p.add(p.k)
	}
}

// flush adds what the sessions counted during a call to the loop's
// counters, and lowers the connection's pending by the publishes answered.
func (p *mqttProto) flush(x *exch) {
	n := &p.counts
	answered := n.Acked[1] + n.Acked[2] + n.Refused[1] + n.Refused[2]
	if answered > 0 {
		x.conn.pending -= uint16(min(uint64(x.conn.pending), answered))
	}
	p.add(x.k)
}

func (p *mqttProto) add(k *counters) {
	n := &p.counts
	if *n == (session.Counts{}) {
		return
	}
	m := &k.mq
	for q := range 3 {
		addNZ(&m.sent[q], n.Sent[q])
		addNZ(&m.acked[q], n.Acked[q])
		addNZ(&m.refused[q], n.Refused[q])
		addNZ(&m.unacked[q], n.Unacked[q])
		addNZ(&m.blocked[q], n.Blocked[q])
		addNZ(&m.received[q], n.Received[q])
		addNZ(&m.duplicated[q], n.Duplicated[q])
		addNZ(&m.retained[q], n.Retained[q])
		addNZ(&k.acked, n.Acked[q]+n.Refused[q])
		addNZ(&k.delivered, n.Received[q]-n.Duplicated[q])
	}
	addNZ(&m.subscribed, n.Subscribed)
	addNZ(&m.foreign, n.Foreign)
	addNZ(&m.redelivered, n.Redelivered)
	addNZ(&k.pongs, n.Pongs)
	*n = session.Counts{}
}

func addNZ(a *atomic.Int64, v uint64) {
	if v != 0 {
		a.Add(int64(v))
	}
}

// mqttCounters are a loop's MQTT counts, per QoS (stats.MQTT).
type mqttCounters struct {
	sent, acked, refused, unacked, blocked   [3]atomic.Int64
	expected, received, duplicated, retained [3]atomic.Int64
	subscribed, foreign, redelivered         atomic.Int64
}

// snapshot adds m to s.
func (m *mqttCounters) snapshot(s *stats.MQTT, unknown bool) {
	var o stats.MQTT
	for q := range 3 {
		o.Sent[q], o.Acked[q], o.Refused[q] = m.sent[q].Load(), m.acked[q].Load(), m.refused[q].Load()
		o.Unacked[q], o.Blocked[q], o.Expected[q] = m.unacked[q].Load(), m.blocked[q].Load(), m.expected[q].Load()
		o.Received[q], o.Duplicated[q], o.Retained[q] = m.received[q].Load(), m.duplicated[q].Load(), m.retained[q].Load()
	}
	o.Subscribed, o.Foreign, o.Redelivered = m.subscribed.Load(), m.foreign.Load(), m.redelivered.Load()
	o.ExpectedUnknown = unknown
	s.Add(&o)
}

// mqttClass is the index of an MQTT error class among clsMQTT….
func mqttClass(name string) int {
	for i, n := range mqtt.Classes() {
		if n == name {
			return i
		}
	}
	return mqttClass(mqtt.ClassRefused)
}
