package scenario

import (
	"bytes"
	"testing"
)

// framingOf builds a framing from fuzz bytes: every kind, size, order,
// offset, header and adjustment.
func framingOf(cfg []byte) Framing {
	c := make([]byte, 6)
	copy(c, cfg)
	f := Framing{Kind: int(c[0] % 3), Max: 4096, Delim: []byte("\r\n"), Bodies: [][]byte{[]byte("MSG ")}}
	if c[0]&0x80 != 0 {
		f.Delim = []byte("\n")
	}
	f.Size = []int{0, 1, 2, 4, 8}[int(c[1])%5]
	f.Little = c[1]&0x80 != 0
	f.Offset = int(c[2] % 8)
	f.Includes = c[3]&1 != 0
	f.Adjust = int(int8(c[4]))
	f.Header = max(int(c[5]%24), f.Offset+f.Size)
	return f
}

// The framings never read past the data, never hand back a frame longer
// than what they used, and cut a stream the same way however it is split.
func FuzzFraming(f *testing.F) {
	f.Add([]byte{2, 3, 0, 1, 0, 16}, []byte("\x00\x00\x00\x10\x00\x10\x00\x01\x00\x00\x00\x03\x00\x00\x00\x02"))
	f.Add([]byte{1, 0, 0, 0, 0, 0}, []byte("MSG a 1 5\r\nhello\r\nPING\r\n"))
	f.Add([]byte{0x80, 0, 0, 0, 0, 0}, []byte("a\nb\nc"))
	f.Add([]byte{2, 0, 1, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, cfg, data []byte) {
		if len(data) > 256 {
			return
		}
		fr := framingOf(cfg)
		whole := cut(t, &fr, data)
		for _, split := range []int{1, len(data) / 2} {
			if split <= 0 || split >= len(data) {
				continue
			}
			// Feed the stream in two reads, keeping what was not used.
			first := cut(t, &fr, data[:split])
			used := 0
			for _, fb := range first.frames {
				used += fb.n
			}
			rest := append(append([]byte(nil), data[used:split]...), data[split:]...)
			second := cut(t, &fr, rest)
			all := append(first.frames, second.frames...)
			if whole.err == nil && second.err == nil && first.err == nil && len(all) != len(whole.frames) {
				t.Fatalf("split at %d: %d frames, whole: %d", split, len(all), len(whole.frames))
			}
		}
	})
}

type cutFrame struct {
	data []byte
	n    int
}

type cutResult struct {
	frames []cutFrame
	err    error
}

func cut(t *testing.T, fr *Framing, data []byte) cutResult {
	var r cutResult
	for guard, limit := 0, len(data); guard <= limit; guard++ {
		f, n, err := fr.Next(data, false)
		if err != nil {
			r.err = err
			return r
		}
		if n == 0 {
			return r
		}
		if n > len(data) || len(f.Data) > n || f.Body > len(f.Data) || !bytes.Equal(f.Data, data[:len(f.Data)]) {
			t.Fatalf("frame of %d bytes (body at %d) from using %d of %d", len(f.Data), f.Body, n, len(data))
		}
		r.frames = append(r.frames, cutFrame{append([]byte(nil), f.Data...), n})
		data = data[n:]
	}
	t.Fatal("the framing used no bytes yet returned a frame")
	return r
}

// jsonFind never reads past its data and finds what encoding/json-shaped
// input holds at a path without panicking.
func FuzzJSONFind(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,{"c":"x\"y"}]}}`), "a.b.1.c")
	f.Add([]byte(`[{"id": 7}]`), "0.id")
	f.Add([]byte(`{"a":`), "a")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		if len(data) > 256 || len(path) > 32 {
			return
		}
		v, ok := jsonFind(data, splitPath(path))
		if ok && (len(v) > len(data) || !bytes.Contains(data, v)) {
			t.Fatalf("value %q is not in the data", v)
		}
	})
}
