//go:build linux

package loadclient

import (
	"testing"
	"time"

	"github.com/imtool/imtool/internal/mqtt/mqtttest"
)

// TestLoginTimeoutPerStep: --login-timeout bounds each step of a handshake
// on its own (CONNACK from the CONNECT, SUBACK from the SUBSCRIBE), in
// both engines. Behind a path that holds mosquitto's bytes back 600 ms,
// each step takes 600 ms and the two 1.2 s; with a 1 s --login-timeout
// every connection must be held.
func TestLoginTimeoutPerStep(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	addr := mqtttest.DelayProxy(t, b.Addr, 600*time.Millisecond)
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
