package refserver

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Frames sent on a linkOut by several goroutines at once arrive whole, each
// goroutine's in its order, even when the peer reads nothing for a while:
// the socket fills, producers find it full (or another one writing) and
// leave the rest to the writer goroutine, which blocks until the peer
// reads.
func TestLinkOutKeepsOrderWhenFull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	o, err := newLinkOut(c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	writerErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-done:
				writerErr <- nil
				return
			case <-o.kick:
				if err := o.flush(); err != nil {
					writerErr <- err
					return
				}
			}
		}
	}()

	const producers, frames = 4, 6000 // 24,000 frames of 1 KiB: more than the socket buffers hold
	payload := make([]byte, 1000)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < frames; i++ {
				o.send(func(b []byte) []byte {
					return appendLinkRoute(b, uint32(p), 0, uint64(i), 0, 0, 0, 0, payload)
				})
			}
		}()
	}
	wg.Wait() // every frame queued before the peer reads one
	o.mu.Lock()
	left := len(o.buf)
	o.mu.Unlock()
	if left == 0 {
		t.Fatal("the socket took everything: the writer's path was not exercised")
	}

	peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := newLinkReader(peer)
	next := make([]uint64, producers)
	for n := 0; n < producers*frames; n++ {
		f, err := r.next()
		if err != nil {
			t.Fatalf("after %d frames: %v", n, err)
		}
		if f.typ != linkRoute || len(f.payload) != len(payload) {
			t.Fatalf("frame %d: type 0x%02x with %d payload bytes", n, f.typ, len(f.payload))
		}
		if f.req != next[f.origin] {
			t.Fatalf("producer %d: frame %d came where %d was due", f.origin, f.req, next[f.origin])
		}
		next[f.origin]++
	}
	peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := io.ReadFull(peer, make([]byte, 1)); err == nil {
		t.Fatal("bytes after the last frame")
	}
}
