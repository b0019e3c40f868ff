package session

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/mqtt"
)

// now is the one clock every session of a test shares (end to end).
func now() int64 { return time.Now().UnixNano() }

// netDriver drives one Session over a real socket, as an engine would: a
// reader goroutine hands bytes in (keeping a split packet's start), the
// session's writes go out on the socket, and every call into the session
// holds mu.
type netDriver struct {
	mu        sync.Mutex
	c         net.Conn
	s         *Session
	held      chan struct{}
	done      chan struct{} // the reader ended: the connection is over
	class     string        // why the session ended (Gone or Ended)
	text      string
	lat       [NumSeries][]int64
	onMessage func(topic, payload []byte)
}

func (d *netDriver) Write(b []byte) bool {
	d.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := d.c.Write(b)
	return err == nil
}
func (d *netDriver) Held() { close(d.held) }
func (d *netDriver) Gone(class, text string, err error) {
	d.class, d.text = class, text
	d.c.Close()
}
func (d *netDriver) Record(s Series, ns int64) { d.lat[s] = append(d.lat[s], ns) }
func (d *netDriver) Message(topic, payload []byte) {
	if d.onMessage != nil {
		d.onMessage(topic, payload)
	}
}

// dial connects a session to addr (over TLS when tc is set), writes its
// CONNECT and starts reading; the socket is closed at the test's end.
func dial(t *testing.T, addr string, tc *tls.Config, cfg *Config, id Identity, onMessage func(topic, payload []byte)) *netDriver {
	t.Helper()
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
	} else {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	d := &netDriver{c: c, held: make(chan struct{}), done: make(chan struct{}), onMessage: onMessage}
	d.s = New(d, cfg, nil)
	t.Cleanup(func() { c.Close(); <-d.done })
	d.mu.Lock()
	d.s.Open(now(), &id)
	d.mu.Unlock()
	go d.read()
	return d
}

func (d *netDriver) read() {
	defer close(d.done)
	buf := make([]byte, 64<<10)
	have := 0
	for {
		n, err := d.c.Read(buf[have:])
		d.mu.Lock()
		if n > 0 {
			have += n
			used, ok := d.s.Input(buf[:have], now())
			have = copy(buf, buf[used:have])
			if !ok {
				d.mu.Unlock()
				return
			}
		}
		if err != nil {
			if d.class == "" {
				d.class, d.text = d.s.Ended(), err.Error()
			}
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
	}
}

// do runs f on the session under the driver's lock.
func (d *netDriver) do(f func(s *Session)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d.s)
}

func (d *netDriver) counts() Counts {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.s.Counts
}

func (d *netDriver) samples(s Series) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.lat[s])
}

// waitHeld waits (5 s at most) for the CONNACK that accepts.
func (d *netDriver) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-d.held:
	case <-d.done:
		t.Fatalf("connection ended before it was held: %s %s", d.class, d.text)
	case <-time.After(5 * time.Second):
		t.Fatal("no CONNACK in 5 s")
	}
}

// waitEnd waits (5 s at most) for the connection to end and returns why.
func (d *netDriver) waitEnd(t *testing.T) (class, text string) {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after 5 s")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.class, d.text
}

// eventually polls cond every 10 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cfgFor(v byte) *Config {
	return &Config{Connect: mqtt.Connect{Version: v, CleanStart: true, KeepAlive: 30}}
}

// as is the identity of a connection with client id id.
func as(id string) Identity { return Identity{ClientID: []byte(id)} }
