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

// MsgRTT is one message a probe timed: SEND to its ACK at the sender, SEND
// to its DELIVER at the recipient, and when it was sent.
type MsgRTT struct {
	At           time.Time
	Ack, Deliver time.Duration
}

// SendRTT is the independent observer of a gateway's message latency: two
// sockets of its own, the sender logged in as from at fromAddr and the
// recipient as to at toAddr (another gateway of the same dispatcher, for a
// routed message). Every `every` the sender writes one SEND to `to` and
// blocks for its ACK, which must say delivered; the recipient's reader
// times the DELIVER against the same clock. Written from docs/PROTOCOL.md,
// with nothing but this code between the clock and the sockets. It returns
// the messages timed when ctx ends, or the first thing that went wrong.
func SendRTT(ctx context.Context, fromAddr, toAddr string, from, to uint64, every time.Duration) ([]MsgRTT, error) {
	dial := func(addr string, uid uint64) (net.Conn, *bufio.Reader, error) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil, nil, err
		}
		r := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(LoginFrame(uid, "")); err != nil {
			c.Close()
			return nil, nil, err
		}
		if typ, _, err := readFrame(r); err != nil || typ != LoginOK {
			c.Close()
			return nil, nil, fmt.Errorf("login of uid %d at %s: frame 0x%02x, %v", uid, addr, typ, err)
		}
		c.SetDeadline(time.Time{})
		return c, r, nil
	}
	rc, rr, err := dial(toAddr, to)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sc, sr, err := dial(fromAddr, from)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() { rc.SetDeadline(time.Now()); sc.SetDeadline(time.Now()) })
	defer stop()

	// The recipient's reader hands each DELIVER's msg id and arrival on.
	type arrival struct {
		id uint64
		at time.Time
	}
	arrivals := make(chan arrival, 1024)
	go func() {
		defer close(arrivals)
		for {
			typ, body, err := readFrame(rr)
			if err != nil {
				return
			}
			if typ == Deliver && len(body) >= 8 {
				arrivals <- arrival{binary.BigEndian.Uint64(body), time.Now()}
			}
		}
	}()
	var out []MsgRTT
	tick := time.NewTicker(every)
	defer tick.Stop()
	began := time.Now()
	for id := uint64(1); ctx.Err() == nil; id++ {
		start := time.Now()
		if _, err := sc.Write(SendFrame(id, to, uint64(start.UnixNano()), "probe")); err != nil {
			return out, err
		}
		var ack time.Duration
		for ack == 0 {
			typ, body, err := readFrame(sr)
			if err != nil {
				if ctx.Err() != nil {
					return out, nil
				}
				return out, fmt.Errorf("reading the ACK of message %d: %w", id, err)
			}
			if typ != Ack || len(body) < 9 || binary.BigEndian.Uint64(body) != id {
				continue
			}
			if st := body[8]; st != 0 {
				// The recipient's login reaches the dispatcher in the
				// gateway's next batch of changes: until the first
				// delivery, offline (1) means not yet.
				if len(out) == 0 && st == 1 && time.Since(began) < 5*time.Second {
					break
				}
				return out, fmt.Errorf("message %d to uid %d: ACK status %d, not delivered", id, to, st)
			}
			ack = time.Since(start)
		}
		if ack == 0 {
			time.Sleep(every)
			continue
		}
		out = append(out, MsgRTT{At: start, Ack: ack})
		// The DELIVER was written before the ACK was sent: it is read by now
		// or is on its way.
		select {
		case a, ok := <-arrivals:
			if !ok {
				return out, fmt.Errorf("the recipient's connection ended before message %d", id)
			}
			if a.id != id {
				return out, fmt.Errorf("DELIVER of message %d where %d was the one sent", a.id, id)
			}
			out[len(out)-1].Deliver = a.at.Sub(start)
		case <-ctx.Done():
			return out, nil
		case <-time.After(5 * time.Second):
			return out, fmt.Errorf("message %d acked as delivered but not delivered within 5 s", id)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	return out, nil
}
