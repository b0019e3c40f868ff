package loadclient

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestLoginTimeoutPerStep: --login-timeout bounds each step of a handshake
// on its own (CONNACK from the CONNECT, SUBACK from the SUBSCRIBE), in
// both engines. A broker that answers each step after 600 ms takes 1.2 s in
// all; with a 1 s --login-timeout every connection must be held.
func TestLoginTimeoutPerStep(t *testing.T) {
	const step = 600 * time.Millisecond
	addr := slowBroker(t, step)
	for _, eng := range engines() {
		t.Run(eng, func(t *testing.T) {
			const n = 5
			sw, errc := startSwarm(t, Options{Targets: []string{addr}, Proto: ProtoMQTT, Conns: n, Engine: eng, Procs: 1,
				Heartbeat: 30 * time.Second, Hold: 300 * time.Millisecond, LoginTimeout: time.Second,
				MQTT: MQTTOptions{Subscribe: "t/{uid}"}})
			waitRun(t, errc, 20*time.Second)
			s := sw.Snapshot()
			if len(s.Errors) != 0 || s.Established != n {
				t.Fatalf("established %d of %d, errors %v (%v): each step is within --login-timeout", s.Established, n, s.Errors, s.ErrorExample)
			}
		})
	}
}

// slowBroker is an MQTT 3.1.1 broker that answers CONNECT and SUBSCRIBE,
// each after delay, and PINGREQ at once.
func slowBroker(t *testing.T, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					typ, body, err := readPacket(r)
					if err != nil {
						return
					}
					switch typ >> 4 {
					case 1: // CONNECT
						time.Sleep(delay)
						_, _ = c.Write([]byte{0x20, 2, 0, 0})
					case 8: // SUBSCRIBE: its packet id, one filter granted QoS 0
						time.Sleep(delay)
						_, _ = c.Write([]byte{0x90, 3, body[0], body[1], 0})
					case 12: // PINGREQ
						_, _ = c.Write([]byte{0xd0, 0})
					case 14: // DISCONNECT
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readPacket reads one MQTT control packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		if shift += 7; shift > 21 {
			return 0, nil, io.ErrUnexpectedEOF
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return typ, body, err
}
