//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/mqtt/mqtttest"
	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// These tests run `imtool swarm --proto mqtt` against Debian's mosquitto
// (internal/mqtt/mqtttest starts it on loopback ports it picks) and check
// what the swarm reports against observers that share no code with it: a
// subscriber written here from the MQTT 3.1.1 specification, mosquitto's
// own $SYS counts, and the kernel's sockets (ss).

// observer is an MQTT 3.1.1 client written from the specification (§3.1
// CONNECT, §3.8 SUBSCRIBE, §3.3 PUBLISH, §3.12 PINGREQ), independent of
// internal/mqtt: it subscribes to filters at QoS 0 and records what is
// published to them.
type observer struct {
	nc net.Conn
	mu sync.Mutex
	// sys is the last value of each $SYS topic; msgs counts swarm
	// messages (payloads with imtool's header) and distinct the distinct
	// (publisher, sequence) pairs among them.
	sys      map[string]string
	msgs     int
	distinct map[[12]byte]bool
	wills    int // messages on wills/…
}

func newObserver(t *testing.T, addr string, filters ...string) *observer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{nc: nc, sys: map[string]string{}, distinct: map[[12]byte]bool{}}
	t.Cleanup(func() { nc.Close() })
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	packet := func(first byte, body []byte) []byte { // remaining length < 128 here
		return append([]byte{first, byte(len(body))}, body...)
	}
	// CONNECT: protocol name, level 4, clean session, keep alive 60 s.
	connect := append(append(str("MQTT"), 4, 0x02, 0, 60), str("observer-"+strconv.Itoa(int(time.Now().UnixNano()%1e6)))...)
	if _, err := nc.Write(packet(0x10, connect)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	if typ, body := readPacket(t, r); typ != 2 || len(body) != 2 || body[1] != 0 {
		t.Fatalf("observer: CONNACK expected, got type %d %x", typ, body)
	}
	sub := []byte{0, 1}
	for _, f := range filters {
		sub = append(append(sub, str(f)...), 0)
	}
	if _, err := nc.Write(packet(0x82, sub)); err != nil {
		t.Fatal(err)
	}
	if typ, _ := readPacket(t, r); typ != 9 {
		t.Fatalf("observer: SUBACK expected, got type %d", typ)
	}
	go o.read(r)
	go func() { // PINGREQ a second: mosquitto publishes $SYS only when something wakes it
		for {
			time.Sleep(time.Second)
			if _, err := nc.Write([]byte{0xC0, 0}); err != nil {
				return
			}
		}
	}()
	return o
}

// readPacket reads one packet: its type and the bytes after the fixed header.
func readPacket(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	typ, body, err := readPacketErr(r)
	if err != nil {
		t.Fatalf("observer: %v", err)
	}
	return typ, body
}

func readPacketErr(r *bufio.Reader) (byte, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; i < 4; i++ { // §2.2.3: 7 bits a byte, at most 4 bytes
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7F) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return first >> 4, body, err
}

func (o *observer) read(r *bufio.Reader) {
	for {
		typ, body, err := readPacketErr(r)
		if err != nil {
			return
		}
		if typ != 3 || len(body) < 2 { // PUBLISH at QoS 0: topic, payload
			continue
		}
		tl := int(binary.BigEndian.Uint16(body))
		topic, payload := string(body[2:2+tl]), body[2+tl:]
		o.mu.Lock()
		if strings.HasPrefix(topic, "$SYS/") {
			o.sys[topic] = string(payload)
		} else if strings.HasPrefix(topic, "wills/") {
			o.wills++
		} else if len(payload) >= 24 && string(payload[:3]) == "imq" { // docs/MQTT.md: "imq", QoS, time, publisher, sequence
			o.msgs++
			o.distinct[[12]byte(payload[12:24])] = true
		}
		o.mu.Unlock()
	}
}

func (o *observer) sysValue(topic string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, _ := strconv.Atoi(o.sys[topic])
	return n
}

func (o *observer) will() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wills
}

func (o *observer) counts() (msgs, distinct int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.msgs, len(o.distinct)
}

func brokerPort(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// swarmHeld reads the swarm's held connections from its /stats.
func swarmHeld(addr string) int64 {
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var s stats.Snapshot
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return -1
	}
	return s.Held
}

// heldAndConnected waits (10 s at most) until the swarm holds n
// connections and mosquitto counts n+1 clients (the observer is one).
func heldAndConnected(t *testing.T, statsAddr string, obs *observer, n int64) {
	t.Helper()
	var held, sys int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if held, sys = swarmHeld(statsAddr), int64(obs.sysValue("$SYS/broker/clients/connected")); held == n && sys == n+1 {
			return
		}
	}
	t.Errorf("swarm held %d, mosquitto connected %d (one is the observer); want %d and %d", held, sys, n, n+1)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMQTTThreeCounts holds connections on mosquitto at 3.1.1 and 5.0 and
// checks, at one moment of the hold, the swarm's held count (its /stats)
// against mosquitto's own $SYS/broker/clients/connected (read by the
// observer, which is one of the clients) and the kernel's established
// sockets on the broker's port; then the run's record.
func TestMQTTThreeCounts(t *testing.T) {
	bin := rt.Binary(t)
	const n = 300
	for _, v := range []string{"3.1.1", "5"} {
		t.Run(v, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{})
			obs := newObserver(t, b.Addr, "$SYS/broker/clients/connected")
			port := brokerPort(t, b.Addr)
			statsAddr, dir := freeAddr(t), t.TempDir()
			p := startProc(t, bin, "swarm", "--tui=false", "--proto", "mqtt", "--mqtt-version", v, "--target", b.Addr,
				"--conns", strconv.Itoa(n), "--hold", "8s", "--heartbeat", "1s", "--stats", statsAddr, "--out", dir)
			var held, sys, kernel int64
			agreed := false
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !agreed; time.Sleep(200 * time.Millisecond) {
				held = swarmHeld(statsAddr)
				sys = int64(obs.sysValue("$SYS/broker/clients/connected"))
				kernel = int64(ssCount(t, port, port))
				// The observer is one more client and one more socket.
				agreed = held == n && sys == n+1 && kernel == n+1
			}
			if !agreed {
				t.Errorf("counts never agreed: swarm held %d, mosquitto $SYS connected %d (less the observer: %d), kernel %d (less the observer's: %d); want %d each",
					held, sys, sys-1, kernel, kernel-1, n)
			}
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			rec, _ := readRecord(t, dir)
			s := rec.Summary
			if s.Held != n || s.Dropped != 0 || len(s.Errors) != 0 || s.Pongs == 0 || s.Latency[stats.LatMQTTConnect].Count != n {
				t.Errorf("record: held %d dropped %d errors %v pongs %d connect latencies %d; want %d held, none dropped or failed, heartbeats answered",
					s.Held, s.Dropped, s.Errors, s.Pongs, s.Latency[stats.LatMQTTConnect].Count, n)
			}
		})
	}
}

// TestMQTTErrorClasses: brokers that refuse are each classified with the
// code as the broker sent it and the fix, in the summary: a wrong password
// (3.1.1 and 5.0; mosquitto answers not authorized), no credentials where a
// password file is in force, and a listener at max_connections (closed
// before CONNACK). The right password is held.
func TestMQTTErrorClasses(t *testing.T) {
	bin := rt.Binary(t)
	users := map[string]string{"dev": "s3cret"}
	for _, tt := range []struct {
		name     string
		opts     mqtttest.Options
		args     []string
		conns    int
		held     int // at least
		class    string
		example  string
		fixWords string
	}{
		{"right password", mqtttest.Options{Users: users}, []string{"--username", "dev", "--password", "s3cret"}, 20, 20, "", "", ""},
		{"wrong password 3.1.1", mqtttest.Options{Users: users}, []string{"--username", "dev", "--password", "nope"}, 20, 0,
			"mqtt_not_authorized", "CONNACK 5 not authorized", "--username/--password"},
		{"wrong password 5", mqtttest.Options{Users: users}, []string{"--mqtt-version", "5", "--username", "dev", "--password", "nope"}, 20, 0,
			"mqtt_not_authorized", "CONNACK 0x87 not authorized", "--username/--password"},
		{"anonymous refused 5", mqtttest.Options{Users: users}, []string{"--mqtt-version", "5"}, 10, 0,
			"mqtt_not_authorized", "CONNACK 0x87 not authorized", "allow_anonymous"},
		{"max_connections", mqtttest.Options{MaxConnections: 5}, nil, 12, 5,
			"mqtt_closed_before_connack", "closed by the broker before its CONNACK", "max_connections"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := mqtttest.Start(t, tt.opts)
			dir := t.TempDir()
			args := append([]string{"swarm", "--tui=false", "--stats", "", "--proto", "mqtt", "--target", b.Addr,
				"--conns", strconv.Itoa(tt.conns), "--rate", "200", "--hold", "1s", "--heartbeat", "1s", "--out", dir}, tt.args...)
			p := startProc(t, bin, args...)
			code := p.wait(t, 30*time.Second)
			out := p.out.String()
			rec, _ := readRecord(t, dir)
			s := rec.Summary
			if tt.class == "" {
				if code != 0 || s.Held != int64(tt.conns) || len(s.Errors) != 0 {
					t.Errorf("exit %d, held %d of %d, errors %v; want all held", code, s.Held, tt.conns, s.Errors)
				}
				return
			}
			if code != 1 || s.Held < int64(tt.held) || s.Held+s.Errors[tt.class] != int64(tt.conns) {
				t.Errorf("exit %d, held %d, errors %v; want exit 1, at least %d held and every other connection %s", code, s.Held, s.Errors, tt.held, tt.class)
			}
			if !strings.Contains(out, tt.class) || !strings.Contains(out, tt.example) || !strings.Contains(out, stats.Fix(tt.class)) || !strings.Contains(stats.Fix(tt.class), tt.fixWords) {
				t.Errorf("the summary does not show class %s with example %q and its fix (%q):\n%s", tt.class, tt.example, stats.Fix(tt.class), out)
			}
		})
	}
}

// TestMQTTOverTLS: the swarm holds connections on mosquitto's TLS listener,
// trusting the test's CA with --tls-ca, on each engine, and mosquitto
// counts them.
func TestMQTTOverTLS(t *testing.T) {
	bin := rt.Binary(t)
	const n = 50
	b := mqtttest.Start(t, mqtttest.Options{TLS: true})
	obs := newObserver(t, b.Addr, "$SYS/broker/clients/connected")
	for _, engine := range []string{"epoll", "portable"} {
		t.Run(engine, func(t *testing.T) {
			statsAddr, dir := freeAddr(t), t.TempDir()
			p := startProc(t, bin, "swarm", "--tui=false", "--proto", "mqtt", "--mqtt-version", "5", "--target", "tls://"+b.TLSAddr,
				"--tls-ca", b.CAFile, "--tls-server-name", "localhost", "--conns", strconv.Itoa(n), "--hold", "4s", "--heartbeat", "1s",
				"--stats", statsAddr, "--out", dir, "--engine", engine)
			heldAndConnected(t, statsAddr, obs, n)
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			rec, _ := readRecord(t, dir)
			if s := rec.Summary; s.Held != n || s.Latency[stats.LatTLS].Count != n || s.Pongs == 0 || len(s.Errors) != 0 {
				t.Errorf("held %d, TLS handshakes timed %d, pongs %d, errors %v; want %d, %d, > 0, none", s.Held, s.Latency[stats.LatTLS].Count, s.Pongs, s.Errors, n, n)
			}
		})
	}
}

// TestMQTTPubSub publishes at QoS 0, 1 and 2 (5.0, and QoS 2 at 3.1.1)
// from every connection to a random peer's topic, each connection
// subscribed to its own at QoS 2, and checks the counts balance: every
// message acknowledged (QoS 1, 2), delivered once (0 lost, 0 duplicated),
// one latency per acknowledgement and delivery; and the observer,
// subscribed to every device topic, saw exactly the messages the swarm sent.
// IMTOOL_MQTT_PUBSUB=CONNS:RATE:HOLD scales it into the measurement of
// docs/MQTT.md (run it under the machine lock):
//
//	IMTOOL_MQTT_PUBSUB=10000:2000:20s flock /work/machine.lock go test -count=1 -run TestMQTTPubSub -v ./cmd/imtool
func TestMQTTPubSub(t *testing.T) {
	bin := rt.Binary(t)
	n, rate, hold := 50, "100", "3s"
	if v := os.Getenv("IMTOOL_MQTT_PUBSUB"); v != "" {
		f := strings.Split(v, ":")
		if len(f) != 3 {
			t.Fatalf("IMTOOL_MQTT_PUBSUB=%q: want CONNS:RATE:HOLD", v)
		}
		n, _ = strconv.Atoi(f[0])
		rate, hold = f[1], f[2]
	}
	for _, tt := range []struct {
		v   string
		qos int
	}{{"5", 0}, {"5", 1}, {"5", 2}, {"3.1.1", 2}} {
		t.Run(fmt.Sprintf("%s/qos%d", tt.v, tt.qos), func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{})
			obs := newObserver(t, b.Addr, "devices/+/in")
			dir := t.TempDir()
			p := startProc(t, bin, "swarm", "--tui=false", "--stats", "", "--proto", "mqtt", "--mqtt-version", tt.v, "--target", b.Addr,
				"--conns", strconv.Itoa(n), "--hold", hold, "--heartbeat", "1s", "--out", dir,
				"--subscribe", "devices/{uid}/in", "--sub-qos", "2", "--publish", "devices/{peer}/in", "--qos", strconv.Itoa(tt.qos),
				"--msg-rate", rate, "--payload", "100")
			if code := p.wait(t, 5*time.Minute); code != 0 {
				t.Fatalf("exit %d", code)
			}
			time.Sleep(300 * time.Millisecond) // the observer's last messages
			rec, _ := readRecord(t, dir)
			s := rec.Summary
			m := s.MQTT
			if m == nil {
				t.Fatal("the record has no MQTT counts")
			}
			q := tt.qos
			sent := m.Sent[q]
			if m.Received[q] != sent {
				t.Logf("QoS %d: redelivered %d, foreign %d, retained %v, unacked %v", q, m.Redelivered, m.Foreign, m.Retained, m.Unacked)
			}
			if sent < 100 || m.Received[q] != sent || m.Expected[q] != sent || m.Lost[q] != 0 || m.Duplicated[q] != 0 || m.Subscribed != int64(n) {
				t.Errorf("QoS %d: sent %d received %d expected %d lost %d duplicated %d subscribed %d; want ≥ 100 sent, each received once by its peer, %d subscribed",
					q, sent, m.Received[q], m.Expected[q], m.Lost[q], m.Duplicated[q], m.Subscribed, n)
			}
			if q > 0 && (m.Acked[q] != sent || m.Unacked[q]+m.Refused[q]+m.Blocked[q] != 0) {
				t.Errorf("QoS %d: %d of %d acked, %d unacked, %d refused, %d blocked", q, m.Acked[q], sent, m.Unacked[q], m.Refused[q], m.Blocked[q])
			}
			ackSeries := map[int]string{1: stats.LatMQTTPubAck, 2: stats.LatMQTTPubComp}[q]
			if q > 0 && s.Latency[ackSeries].Count != m.Acked[q] {
				t.Errorf("%s samples %d, acknowledgements %d", ackSeries, s.Latency[ackSeries].Count, m.Acked[q])
			}
			if s.Latency[stats.LatDeliver].Count != m.Received[q]-m.Duplicated[q] {
				t.Errorf("deliver samples %d, deliveries %d", s.Latency[stats.LatDeliver].Count, m.Received[q]-m.Duplicated[q])
			}
			if msgs, distinct := obs.counts(); int64(distinct) != sent || int64(msgs) != sent {
				t.Errorf("the observer saw %d messages (%d distinct); the swarm says it sent %d", msgs, distinct, sent)
			}
			if s.Sent != sent || s.Delivered != sent {
				t.Errorf("summary sent %d delivered %d; MQTT counts say %d", s.Sent, s.Delivered, sent)
			}
			msgs, _ := obs.counts()
			lat := func(name string) string {
				l := s.Latency[name]
				return fmt.Sprintf("%s p50 %.2f ms p99 %.2f ms (%d)", name, 1e3*l.P50, 1e3*l.P99, l.Count)
			}
			t.Logf("%d connections, QoS %d: sent %d, acked %d, received %d, expected %d, lost %d, duplicated %d, blocked %d; observer %d; %s; %s; %s",
				n, q, sent, m.Acked[q], m.Received[q], m.Expected[q], m.Lost[q], m.Duplicated[q], m.Blocked[q], msgs,
				lat(map[int]string{0: stats.LatHeartbeat, 1: stats.LatMQTTPubAck, 2: stats.LatMQTTPubComp}[q]), lat(stats.LatDeliver), lat(stats.LatMQTTConnect))
		})
	}
}

// TestMQTTMeasureHold is a measurement, run on demand under the machine
// lock (docs/MQTT.md has the figures): IMTOOL_MQTT_CONNS connections held
// on IMTOOL_MQTT_BROKERS mosquitto processes (default: one per 15,000), the
// swarm sharded as RLIMIT_NOFILE requires, and at one moment of the hold the
// three counts: the swarm's held, the brokers' $SYS/broker/clients/connected
// summed (less the observers) and the kernel's established sockets on the
// brokers' ports (less the observers'). It logs the connect rate and the
// memory per connection of the swarm and of the brokers.
//
//	IMTOOL_MQTT_CONNS=15000 flock /work/machine.lock go test -count=1 -run TestMQTTMeasureHold -v -timeout 20m ./cmd/imtool
func TestMQTTMeasureHold(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("IMTOOL_MQTT_CONNS"))
	if err != nil {
		t.Skip("a measurement: set IMTOOL_MQTT_CONNS (and IMTOOL_MQTT_BROKERS) and run it under the machine lock")
	}
	nb := (n + 14999) / 15000
	if v, err := strconv.Atoi(os.Getenv("IMTOOL_MQTT_BROKERS")); err == nil {
		nb = v
	}
	bin := rt.Binary(t)
	var brokers []*mqtttest.Broker
	var obs []*observer
	args := []string{"swarm", "--tui=false", "--proto", "mqtt", "--conns", strconv.Itoa(n), "--rate", "10000",
		"--hold", "20s", "--heartbeat", "30s", "--procs", "auto"}
	for range nb {
		b := mqtttest.Start(t, mqtttest.Options{})
		brokers = append(brokers, b)
		obs = append(obs, newObserver(t, b.Addr, "$SYS/broker/clients/connected"))
		args = append(args, "--target", b.Addr)
	}
	statsAddr, dir := freeAddr(t), t.TempDir()
	brokerRSS0 := 0
	for _, b := range brokers {
		brokerRSS0 += rssKiB(b.PID())
	}
	p := startProc(t, bin, append(args, "--stats", statsAddr, "--out", dir)...)
	var held, sys, kernel int64
	agreed := false
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline) && !agreed; time.Sleep(time.Second) {
		held, sys, kernel = swarmHeld(statsAddr), -int64(nb), -int64(nb)
		for i, b := range brokers {
			sys += int64(obs[i].sysValue("$SYS/broker/clients/connected"))
			port := brokerPort(t, b.Addr)
			kernel += int64(ssCount(t, port, port))
		}
		agreed = held == int64(n) && sys == int64(n) && kernel == int64(n)
	}
	brokerRSS := 0
	for _, b := range brokers {
		brokerRSS += rssKiB(b.PID())
	}
	t.Logf("three counts: swarm held %d, mosquitto $SYS connected %d, kernel %d (observers taken out); agreed: %v", held, sys, kernel, agreed)
	if !agreed {
		t.Errorf("the counts never agreed on %d", n)
	}
	if code := p.wait(t, 10*time.Minute); code != 0 {
		t.Errorf("exit %d", code)
	}
	rec, _ := readRecord(t, dir)
	s := rec.Summary
	t.Logf("%d connections on %d mosquitto: held %d, dropped %d, errors %v; ramp %.2f s, %.0f conn/s mean; swarm %.0f B per connection; mosquitto %.0f B per connection (RSS growth); mqtt_connect p50 %.2f ms p99 %.2f ms",
		n, nb, s.Held, s.Dropped, s.Errors, s.RampSeconds, s.ConnectRateMean, s.ClientBytesPer, float64(brokerRSS-brokerRSS0)*1024/float64(n),
		1e3*s.Latency[stats.LatMQTTConnect].P50, 1e3*s.Latency[stats.LatMQTTConnect].P99)
}

// rssKiB is a process's resident memory in KiB (/proc/PID/status VmRSS).
func rssKiB(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// TestMQTTWill: every connection carries a will; a swarm that closes with
// FIN says DISCONNECT first, so mosquitto publishes no will, and one that
// closes with RST vanishes, so it publishes every connection's will, which
// the observer receives.
func TestMQTTWill(t *testing.T) {
	bin := rt.Binary(t)
	const n = 20
	for _, tt := range []struct {
		close string
		wills int
	}{{"fin", 0}, {"rst", n}} {
		t.Run(tt.close, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{})
			obs := newObserver(t, b.Addr, "wills/#")
			p := startProc(t, bin, "swarm", "--tui=false", "--stats", "", "--proto", "mqtt", "--target", b.Addr,
				"--conns", strconv.Itoa(n), "--hold", "1s", "--heartbeat", "1s", "--close", tt.close,
				"--will-topic", "wills/swarm", "--will-payload", strings.Repeat("w", 30))
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			got := 0
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if got = obs.will(); got >= tt.wills && tt.wills > 0 {
					break
				}
			}
			if got != tt.wills {
				t.Errorf("--close %s: the observer got %d wills, want %d", tt.close, got, tt.wills)
			}
		})
	}
}

// TestMQTTOverWebSocket: MQTT in WebSocket binary messages (a ws://
// target, subprotocol mqtt) to mosquitto's websockets listener, at 3.1.1
// and 5.0: every connection held and counted by mosquitto, every QoS 1
// message acknowledged and delivered once, and seen by the observer (on
// the plain listener).
func TestMQTTOverWebSocket(t *testing.T) {
	bin := rt.Binary(t)
	const n = 30
	for _, v := range []string{"3.1.1", "5"} {
		t.Run(v, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{WebSockets: true})
			obs := newObserver(t, b.Addr, "$SYS/broker/clients/connected", "devices/+/in")
			statsAddr, dir := freeAddr(t), t.TempDir()
			p := startProc(t, bin, "swarm", "--tui=false", "--proto", "mqtt", "--mqtt-version", v, "--target", "ws://"+b.WSAddr+"/mqtt",
				"--conns", strconv.Itoa(n), "--hold", "3s", "--heartbeat", "1s", "--stats", statsAddr, "--out", dir,
				"--subscribe", "devices/{uid}/in", "--sub-qos", "1", "--publish", "devices/{peer}/in", "--qos", "1", "--msg-rate", "50")
			heldAndConnected(t, statsAddr, obs, n)
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Fatalf("exit %d", code)
			}
			time.Sleep(300 * time.Millisecond)
			rec, _ := readRecord(t, dir)
			s, m := rec.Summary, rec.Summary.MQTT
			if m == nil || m.Sent[1] < 50 || m.Acked[1] != m.Sent[1] || m.Received[1] != m.Sent[1] || m.Lost[1] != 0 || m.Duplicated[1] != 0 {
				t.Fatalf("MQTT counts %+v: want every QoS 1 message acknowledged and delivered once", m)
			}
			if msgs, _ := obs.counts(); int64(msgs) != m.Sent[1] {
				t.Errorf("the observer saw %d messages, the swarm sent %d", msgs, m.Sent[1])
			}
			if s.Latency[stats.LatUpgrade].Count != n || s.Latency[stats.LatMQTTPubAck].Count != m.Acked[1] {
				t.Errorf("upgrades timed %d (want %d), PUBACKs timed %d (want %d)", s.Latency[stats.LatUpgrade].Count, n, s.Latency[stats.LatMQTTPubAck].Count, m.Acked[1])
			}
		})
	}
}

// TestMQTTFanOut: every connection subscribes to broadcast/#, messages
// to broadcast/{uid} are retained; each is delivered to all n connections
// (expected = sent·n, none lost or duplicated), live deliveries are not
// counted as retained copies, and the observer saw each message once.
func TestMQTTFanOut(t *testing.T) {
	bin := rt.Binary(t)
	const n = 20
	b := mqtttest.Start(t, mqtttest.Options{})
	obs := newObserver(t, b.Addr, "broadcast/#")
	dir := t.TempDir()
	p := startProc(t, bin, "swarm", "--tui=false", "--stats", "", "--proto", "mqtt", "--mqtt-version", "5", "--target", b.Addr,
		"--conns", strconv.Itoa(n), "--hold", "2s", "--heartbeat", "1s", "--out", dir,
		"--subscribe", "broadcast/#", "--sub-qos", "1", "--publish", "broadcast/{uid}", "--qos", "1", "--retain", "--msg-rate", "20")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	time.Sleep(300 * time.Millisecond)
	rec, _ := readRecord(t, dir)
	m := rec.Summary.MQTT
	if m == nil || m.Sent[1] < 20 || m.Acked[1] != m.Sent[1] || m.Expected[1] != n*m.Sent[1] || m.Received[1] != n*m.Sent[1] ||
		m.Lost[1] != 0 || m.Duplicated[1] != 0 || m.Retained[1] != 0 {
		t.Fatalf("MQTT counts %+v: want every message acknowledged and delivered to all %d subscribers once, live (not from the retained store)", m, n)
	}
	if msgs, distinct := obs.counts(); int64(msgs) != m.Sent[1] || int64(distinct) != m.Sent[1] {
		t.Errorf("the observer saw %d messages (%d distinct), the swarm sent %d", msgs, distinct, m.Sent[1])
	}
}

// TestMQTTReconnect: the broker is killed mid-run and started again on its
// port; with --reconnect every connection is dropped, redialed with backoff
// and held again, and the new broker counts them all.
func TestMQTTReconnect(t *testing.T) {
	bin := rt.Binary(t)
	const n = 30
	b1 := mqtttest.Start(t, mqtttest.Options{})
	statsAddr, dir := freeAddr(t), t.TempDir()
	p := startProc(t, bin, "swarm", "--tui=false", "--proto", "mqtt", "--mqtt-version", "5", "--target", b1.Addr,
		"--conns", strconv.Itoa(n), "--hold", "12s", "--heartbeat", "1s", "--stats", statsAddr, "--out", dir,
		"--reconnect", "--backoff-min", "100ms", "--backoff-max", "500ms")
	waitHeld := func(want int64) {
		t.Helper()
		got := int64(-1)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && got != want; time.Sleep(100 * time.Millisecond) {
			got = swarmHeld(statsAddr)
		}
		if got != want {
			t.Fatalf("the swarm holds %d, want %d", got, want)
		}
	}
	waitHeld(n)
	b1.Stop()
	waitHeld(0)
	b2 := mqtttest.Start(t, mqtttest.Options{Port: brokerPort(t, b1.Addr)})
	obs := newObserver(t, b2.Addr, "$SYS/broker/clients/connected")
	heldAndConnected(t, statsAddr, obs, n)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	rec, _ := readRecord(t, dir)
	if s := rec.Summary; s.Held != n || s.Dropped != n || s.Latency[stats.LatMQTTConnect].Count < 2*n {
		t.Errorf("held %d, dropped %d (%v), CONNACKs timed %d; want %d held at the end, %d dropped once, at least %d CONNACKs",
			s.Held, s.Dropped, s.Drops, s.Latency[stats.LatMQTTConnect].Count, n, n, 2*n)
	}
}

// imtool bench runs its own gateway: --proto mqtt is refused with where to
// go instead, before anything starts.
func TestBenchRefusesMQTT(t *testing.T) {
	out, err := exec.Command(rt.Binary(t), "bench", "--proto", "mqtt", "--conns", "10", "--tui=false").CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "imtool swarm --proto mqtt --target BROKER") {
		t.Errorf("bench --proto mqtt: %v\n%s\nwant exit 2 pointing to imtool swarm --proto mqtt", err, out)
	}
}

// What the broker should deliver is counted whatever placeholders the
// subscription and the topic use: mosquitto's deliveries (received) are the
// observer of expected. A subscription whose wildcard comes before its {i}
// or {uid} cannot be counted: the summary says so and gives no lost.
func TestMQTTExpectedByPlaceholder(t *testing.T) {
	bin := rt.Binary(t)
	const n = 50
	for _, tt := range []struct {
		name, sub, pub string
		unknown        bool
	}{
		{"i against peer", "bars/{i}", "bars/{peer}", false},
		{"uid against peer", "bars/{uid}", "bars/{peer}", false},
		{"wildcard after i", "bars/{i}/#", "bars/{peer}/x", false},
		{"wildcard before i", "bars/+/{i}", "bars/x/{peer}", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{})
			dir := t.TempDir()
			p := startProc(t, bin, "swarm", "--tui=false", "--stats", "", "--proto", "mqtt", "--target", b.Addr,
				"--conns", strconv.Itoa(n), "--hold", "2s", "--out", dir, "--subscribe", tt.sub, "--sub-qos", "1",
				"--publish", tt.pub, "--qos", "1", "--msg-rate", "200", "--threshold", "mqtt_lost==0")
			code := p.wait(t, 2*time.Minute)
			rec, _ := readRecord(t, dir)
			m := rec.Summary.MQTT
			if m == nil || m.Sent[1] < 100 {
				t.Fatalf("exit %d, MQTT counts %+v", code, m)
			}
			text := p.out.String()
			if tt.unknown {
				if !m.ExpectedUnknown || m.Lost[1] != 0 || m.Received[1] == 0 || code != exitThreshold ||
					!strings.Contains(text, "lost not known: the subscriptions have a wildcard before their {i} or {uid}") {
					t.Fatalf("exit %d, unknown %v, lost %d, received %d:\n%s", code, m.ExpectedUnknown, m.Lost[1], m.Received[1], text)
				}
				return
			}
			if code != 0 || m.ExpectedUnknown || m.Expected[1] == 0 || m.Received[1] != m.Expected[1] || m.Lost[1] != 0 || m.Duplicated[1] != 0 {
				t.Fatalf("exit %d: sent %d, expected %d, received %d, lost %d, duplicated %d\n%s",
					code, m.Sent[1], m.Expected[1], m.Received[1], m.Lost[1], m.Duplicated[1], text)
			}
			t.Logf("%s → %s: sent %d, expected %d, received %d", tt.sub, tt.pub, m.Sent[1], m.Expected[1], m.Received[1])
		})
	}
}
