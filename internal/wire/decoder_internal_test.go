package wire

import (
	"bytes"
	"testing"
)

// TestDecoderReleasesBuffer: a drained Decoder holds no buffer, whether it
// drains on a frame boundary of one Feed, after completing a split frame, or
// after an error.
func TestDecoderReleasesBuffer(t *testing.T) {
	d := NewDecoder(0)
	if d.buf != nil {
		t.Fatal("new Decoder holds a buffer")
	}

	// Several frames in one Feed: released as soon as the last is returned.
	in := AppendPing(nil, 1)
	in = AppendSend(in, 1, 2, 3, []byte("payload"))
	d.Feed(in)
	for i := 0; i < 2; i++ {
		if _, ok, err := d.Next(); !ok || err != nil {
			t.Fatalf("frame %d: %v %v", i, ok, err)
		}
	}
	if d.buf != nil || d.Buffered() != 0 {
		t.Fatalf("after draining: buf cap %d, Buffered %d", cap(d.buf), d.Buffered())
	}
	if _, ok, err := d.Next(); ok || err != nil || d.buf != nil {
		t.Fatalf("Next on an empty decoder: %v %v, buf %v", ok, err, d.buf)
	}

	// A frame split across Feeds.
	ping := AppendPing(nil, 7)
	d.Feed(ping[:3])
	if _, ok, _ := d.Next(); ok || d.Buffered() != 3 || d.buf == nil {
		t.Fatalf("partial: ok %v, Buffered %d", ok, d.Buffered())
	}
	d.Feed(ping[3:])
	if f, ok, err := d.Next(); !ok || err != nil || f.TS != 7 {
		t.Fatalf("completed: %v %v", ok, err)
	}
	if d.buf != nil || d.off != 0 {
		t.Fatalf("after a split frame: buf cap %d, off %d", cap(d.buf), d.off)
	}

	// Feeding nothing allocates nothing.
	d.Feed(nil)
	d.Feed([]byte{})
	if d.buf != nil {
		t.Fatal("empty Feed allocated a buffer")
	}

	// After an error.
	d.Feed([]byte{0, 0, 0, 0})
	if _, _, err := d.Next(); err == nil {
		t.Fatal("no error for length 0")
	}
	d.Feed(ping)
	if d.buf != nil || d.Buffered() != 0 {
		t.Fatal("errored decoder holds a buffer")
	}
}

// TestDecoderShrinks: a small unfinished frame left behind a large read does
// not keep the large buffer, and the frames returned from that buffer stay
// intact until the next Feed.
func TestDecoderShrinks(t *testing.T) {
	d := NewDecoder(0)
	var in []byte
	payload := bytes.Repeat([]byte("p"), 1000)
	for i := 0; i < 64; i++ {
		in = AppendSend(in, uint64(i), 2, 3, payload)
	}
	in = append(in, AppendPing(nil, 9)[:6]...)
	d.Feed(in)
	var frames []Frame
	for {
		f, ok, err := d.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		frames = append(frames, f)
	}
	if len(frames) != 64 {
		t.Fatalf("%d frames", len(frames))
	}
	if d.Buffered() != 6 || cap(d.buf) > 6+shrinkSlack || d.off != 0 {
		t.Fatalf("kept cap %d (len %d, off %d) for a 6-byte unfinished frame", cap(d.buf), len(d.buf), d.off)
	}
	for i, f := range frames {
		if f.MsgID != uint64(i) || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("frame %d corrupted", i)
		}
	}
	d.Feed(AppendPing(nil, 9)[6:])
	if f, ok, err := d.Next(); !ok || err != nil || f.TS != 9 {
		t.Fatalf("completed frame: %v %v %d", ok, err, f.TS)
	}
	if d.buf != nil {
		t.Fatal("buffer kept after draining")
	}
}

// TestDecoderCompactsInPlace: with little slack, Feed reuses the buffer.
func TestDecoderCompactsInPlace(t *testing.T) {
	d := NewDecoder(0)
	a := AppendPing(nil, 1)
	b := AppendPing(nil, 2)
	d.Feed(append(a, b[:4]...))
	if _, ok, _ := d.Next(); !ok {
		t.Fatal("no first frame")
	}
	if _, ok, _ := d.Next(); ok {
		t.Fatal("frame from 4 bytes")
	}
	if d.off == 0 {
		t.Fatal("expected the unfinished frame to stay in place")
	}
	d.Feed(b[4:])
	if d.off != 0 || !bytes.Equal(d.buf, b) {
		t.Fatalf("after Feed: off %d, buf % x", d.off, d.buf)
	}
}
