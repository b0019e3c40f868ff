package wire_test

import (
	"errors"
	"testing"

	"github.com/imtool/imtool/internal/wire"
)

// Frames hands over every whole frame, leaves a split one, stops when told
// and reports a bad frame after the good ones before it.
func TestFrames(t *testing.T) {
	stream := wire.AppendPing(nil, 1)
	stream = wire.AppendPing(stream, 2)
	whole := len(stream)
	stream = wire.AppendPing(stream, 3)
	var got []uint64
	collect := func(f wire.Frame) bool { got = append(got, f.TS); return true }
	used, stopped, err := wire.Frames(stream[:len(stream)-2], 0, collect)
	if err != nil || stopped || used != whole || len(got) != 2 || got[1] != 2 {
		t.Fatalf("split: used %d/%d stopped %v err %v frames %v", used, whole, stopped, err, got)
	}
	got = nil
	used, stopped, _ = wire.Frames(stream, 0, func(f wire.Frame) bool { got = append(got, f.TS); return f.TS < 2 })
	if !stopped || used != whole || len(got) != 2 {
		t.Fatalf("stop: used %d stopped %v frames %v", used, stopped, got)
	}
	got = nil
	bad := append(wire.AppendPing(nil, 9), 0, 0, 0, 0)
	used, _, err = wire.Frames(bad, 0, collect)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeBadFrame || len(got) != 1 || used != len(bad)-4 {
		t.Fatalf("bad: used %d err %v frames %v", used, err, got)
	}
}
