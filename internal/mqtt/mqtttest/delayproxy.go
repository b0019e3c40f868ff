package mqtttest

import (
	"io"
	"net"
	"testing"
	"time"
)

// DelayProxy forwards each connection it accepts to target, holding every
// byte from the broker back for delay: a path of known latency. It stops
// at the test's end.
func DelayProxy(t testing.TB, target string, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); up.Close() })
			go io.Copy(up, c)
			go func() {
				type chunk struct {
					at time.Time
					b  []byte
				}
				q := make(chan chunk, 1024)
				go func() {
					for ch := range q {
						time.Sleep(time.Until(ch.at.Add(delay)))
						if _, err := c.Write(ch.b); err != nil {
							return
						}
					}
				}()
				defer close(q)
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						q <- chunk{time.Now(), append([]byte(nil), buf[:n]...)}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}
