package wire_test

import (
	"fmt"

	"github.com/imtool/imtool/internal/wire"
)

func Example() {
	// A client logs in and sends a message, in one write.
	var out []byte
	out = wire.AppendLogin(out, 1001, []byte("secret-token"))
	out = wire.AppendSend(out, 1, 2002, 1700000000000000000, []byte("hi"))

	// The gateway reads it in two pieces, split mid-frame.
	d := wire.NewDecoder(wire.DefaultMaxFrame)
	for _, read := range [][]byte{out[:9], out[9:]} {
		d.Feed(read)
		for {
			f, ok, err := d.Next()
			if err != nil {
				fmt.Println("protocol error:", err)
				return
			}
			if !ok {
				break // feed the next read
			}
			switch f.Type {
			case wire.TypeLogin:
				fmt.Printf("%s uid=%d token=%q\n", wire.TypeName(f.Type), f.UID, f.Token)
			case wire.TypeSend:
				fmt.Printf("%s msg=%d to=%d payload=%q\n", wire.TypeName(f.Type), f.MsgID, f.ToUID, f.Payload)
			}
		}
	}

	// A frame over the maximum is refused from its 4-byte header.
	_, _, err := wire.Decode([]byte{0, 1, 0x11, 0x70}, 0)
	fmt.Println(err)

	// Output:
	// LOGIN uid=1001 token="secret-token"
	// SEND msg=1 to=2002 payload="hi"
	// wire: too_large: frame length 70000 over the maximum 65536 (--max-frame)
}

func ExampleDecode() {
	buf := wire.AppendPing(nil, 42)
	buf = wire.AppendAck(buf, 7, wire.AckOffline)
	for len(buf) > 0 {
		f, n, err := wire.Decode(buf, 0)
		if err != nil || n == 0 {
			break
		}
		fmt.Println(wire.TypeName(f.Type), n, "bytes", f.TS, f.MsgID, wire.AckName(f.Status))
		buf = buf[n:]
	}
	// Output:
	// PING 13 bytes 42 0 delivered
	// ACK 14 bytes 0 7 offline
}
