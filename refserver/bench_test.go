package refserver_test

import (
	"testing"
	"time"

	"github.com/imtool/imtool/refserver"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// BenchmarkSendAck measures SEND → ACK between two sessions of one gateway
// on loopback, the recipient reading its DELIVERs as they come: one op is
// one SEND answered (window SENDs in flight at a time).
func BenchmarkSendAck(b *testing.B) {
	for _, bc := range []struct {
		name          string
		loops, window int
	}{{"loops=1/window=1", 1, 1}, {"loops=1/window=64", 1, 64}, {"loops=2/window=64", 2, 64}} {
		b.Run(bc.name, func(b *testing.B) {
			g := rt.NewGateway(b, refserver.Options{Loops: bc.loops}, 1)
			from := rt.Dial(b, g.Addrs[0])
			from.Login(1, "x")
			to := rt.Dial(b, g.Addrs[0])
			to.Login(2, "x")
			go func() {
				for {
					if _, err := to.Read(time.Minute); err != nil {
						return
					}
				}
			}()
			frame := rt.SendFrame(0, 2, 0, "0123456789012345678901234567890123456789")
			batch := make([]byte, 0, len(frame)*bc.window)
			for i := 0; i < bc.window; i++ {
				batch = append(batch, frame...)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += bc.window {
				from.Write(batch)
				for j := 0; j < bc.window; j++ {
					if _, err := from.Read(10 * time.Second); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
