package refservertest

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// RTT is one PING → PONG round trip a probe timed, and when it began.
type RTT struct {
	At time.Time
	D  time.Duration
}

// PingRTT is the independent observer of a gateway's heartbeat latency:
// one socket of its own (Go's default TCP_NODELAY), logged in as uid, one
// PING every `every` and a blocking read of its PONG, with nothing but this
// code between the clock and the socket, written from docs/PROTOCOL.md.
// It dials until the gateway answers, redials when the connection ends,
// and returns the round trips it timed when ctx ends.
func PingRTT(ctx context.Context, addr string, uid uint64, every time.Duration) ([]RTT, error) {
	var out []RTT
	var last error
	for ctx.Err() == nil {
		rtts, err := probeOnce(ctx, addr, uid, every)
		out = append(out, rtts...)
		if err != nil {
			last = err
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if len(out) == 0 && last != nil {
		return nil, fmt.Errorf("probe %s: no round trip timed: %w", addr, last)
	}
	return out, nil
}

func probeOnce(ctx context.Context, addr string, uid uint64, every time.Duration) ([]RTT, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	r := bufio.NewReader(c)
	if _, err := c.Write(LoginFrame(uid, "")); err != nil {
		return nil, err
	}
	if typ, _, err := readFrame(r); err != nil || typ != LoginOK {
		return nil, fmt.Errorf("login: frame 0x%02x, %v", typ, err)
	}
	var out []RTT
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ctx.Err() == nil {
		start := time.Now()
		if _, err := c.Write(PingFrame(uint64(start.UnixNano()))); err != nil {
			return out, err
		}
		for {
			typ, _, err := readFrame(r)
			if err != nil {
				return out, err
			}
			if typ == Pong {
				break
			}
		}
		out = append(out, RTT{At: start, D: time.Since(start)})
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	return out, nil
}

// readFrame reads one frame: its type and body.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > 1<<20 {
		return 0, nil, fmt.Errorf("gateway sent a frame of length %d", n)
	}
	body := make([]byte, n-1)
	_, err := io.ReadFull(r, body)
	return hdr[4], body, err
}
