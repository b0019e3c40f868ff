package wire_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/imtool/imtool/internal/wire"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the FuzzDecode seed corpus in testdata/fuzz/FuzzDecode")

// The fuzzer minimizes every input that finds new coverage before it goes on,
// trying up to n²/2 shorter candidates of an n-byte input, each a full run of
// the target, for up to -fuzzminimizetime (a minute by default). So the
// targets look at no more than maxFuzzInput bytes and every seed fits in it:
// the minimizer cuts longer inputs at once, and minimizing one takes about a
// second, so a plain `go test -fuzz` run keeps fuzzing. maxFuzzBody, the
// frame body maximum the targets decode with, leaves room for several
// maximum-size frames and for ones just over it in an input.
const (
	maxFuzzInput = 256
	maxFuzzBody  = 64
)

// fuzzInput is the part of a fuzzer's input the targets look at.
func fuzzInput(data []byte) []byte { return data[:min(len(data), maxFuzzInput)] }

// seedStream is one frame of every type back to back (the first round-trip
// case of each).
func seedStream() []byte {
	var s []byte
	seen := map[byte]bool{}
	for _, tc := range roundTrips {
		if !seen[tc.frame.Type] {
			seen[tc.frame.Type] = true
			s = append(s, tc.wire...)
		}
	}
	return s
}

// seedCorpus is the committed seed corpus of FuzzDecode: every frame type and
// the malformed cases. TestSeedCorpus keeps testdata/ in step with it.
func seedCorpus() map[string][]byte {
	return map[string][]byte{
		"login":               wire.AppendLogin(nil, 1001, []byte("6d2f0a")),
		"login_ok":            wire.AppendLoginOK(nil, 1001, 77, 1700000000000),
		"ping":                wire.AppendPing(nil, 123456789),
		"pong":                wire.AppendPong(nil, 123456789),
		"send":                wire.AppendSend(nil, 1, 2, 3, []byte("hello")),
		"ack":                 wire.AppendAck(nil, 1, wire.AckOffline),
		"deliver":             wire.AppendDeliver(nil, 1, 1001, 3, []byte("hello")),
		"broadcast":           wire.AppendBroadcast(nil, 5, 6, []byte("everyone")),
		"logout":              wire.AppendLogout(nil),
		"error":               wire.AppendError(nil, wire.CodeIdleTimeout, "idle timeout"),
		"kick":                wire.AppendKick(nil, wire.CodeDuplicateLogin),
		"stream_all_types":    seedStream(),
		"zero_length":         {0, 0, 0, 0},
		"too_large_header":    rawLen(70000, wire.TypeSend),
		"unknown_type":        raw(0x0C, 1, 2, 3),
		"ping_truncated":      raw(wire.TypePing, 1, 2, 3, 4, 5, 6, 7),
		"ack_extra_byte":      raw(wire.TypeAck, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9),
		"send_short":          raw(wire.TypeSend, make([]byte, 20)...),
		"token_len_mismatch":  raw(wire.TypeLogin, cat(u64(1), u16(9), []byte("abc"))...),
		"reason_len_mismatch": raw(wire.TypeError, cat(u16(1), u16(2), []byte("abc"))...),
		"partial_deliver":     wire.AppendDeliver(nil, 1, 2, 3, []byte("cut here"))[:30],
	}
}

func corpusFile(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

// TestSeedCorpus checks the committed seed files (go test -run TestSeedCorpus
// -update-seeds rewrites them). Other files in the directory, such as
// regression inputs from the fuzzer, are left alone.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *updateSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range seedCorpus() {
		path := filepath.Join(dir, name)
		want := corpusFile(data)
		if *updateSeeds {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run go test -run TestSeedCorpus -update-seeds)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (run go test -run TestSeedCorpus -update-seeds)", path)
		}
	}
}

// checkDecodeError checks that err is a protocol error with one of the three
// codes Decode may report.
func checkDecodeError(t *testing.T, err error) *wire.Error {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	switch we.Code {
	case wire.CodeBadFrame, wire.CodeTooLarge, wire.CodeUnknownType:
	default:
		t.Fatalf("error code %d: %v", we.Code, err)
	}
	if we.Msg == "" {
		t.Fatal("empty error message")
	}
	return we
}

// FuzzDecode decodes every frame in the input. Properties: Decode never
// panics; 0 <= n <= len(buf); a decoded frame re-encodes to exactly its input
// bytes and ParseBody agrees; every shorter prefix of a frame is reported
// incomplete; an error is reported identically for every prefix from the
// first one that reveals it.
func FuzzDecode(f *testing.F) {
	for _, tc := range roundTrips {
		f.Add(tc.wire)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = maxFuzzBody
		buf := fuzzInput(data)
		for len(buf) > 0 {
			fr, n, err := wire.Decode(buf, max)
			if n < 0 || n > len(buf) {
				t.Fatalf("n = %d of %d bytes", n, len(buf))
			}
			if err != nil {
				if n != 0 {
					t.Fatalf("n = %d with error %v", n, err)
				}
				we := checkDecodeError(t, err)
				seen := false
				for k := 0; k <= len(buf); k++ {
					_, n, err := wire.Decode(buf[:k], max)
					switch {
					case n != 0:
						t.Fatalf("prefix %d of an erroneous frame decoded", k)
					case err == nil && seen:
						t.Fatalf("prefix %d: no error after a shorter prefix gave one", k)
					case err != nil:
						seen = true
						if we2 := checkDecodeError(t, err); *we2 != *we {
							t.Fatalf("prefix %d: %v; whole input: %v", k, we2, we)
						}
					}
				}
				return
			}
			if n == 0 {
				for k := 0; k < len(buf); k++ {
					if _, n, err := wire.Decode(buf[:k], max); n != 0 || err != nil {
						t.Fatalf("prefix %d of an incomplete frame: n %d, err %v", k, n, err)
					}
				}
				return
			}
			if n < wire.HeaderLen || n-4 > max {
				t.Fatalf("n = %d outside [5, 4+max]", n)
			}
			if enc := wire.Append(nil, fr); !bytes.Equal(enc, buf[:n]) {
				t.Fatalf("%s re-encodes to\n% x\ninput\n% x", fmtFrame(fr), enc, buf[:n])
			}
			if p, err := wire.ParseBody(buf[4], buf[5:n]); err != nil || !equalFrame(p, fr) {
				t.Fatalf("ParseBody disagrees: %s, %v", fmtFrame(p), err)
			}
			for k := 0; k < n; k++ {
				if _, n2, err := wire.Decode(buf[:k], max); n2 != 0 || err != nil {
					t.Fatalf("prefix %d of a %d-byte frame: n %d, err %v", k, n, n2, err)
				}
			}
			buf = buf[n:]
		}
	})
}

type decoderSeed struct {
	data []byte
	seed uint64
}

// decoderSeeds are the seeds of FuzzDecoder: whole streams, a stream cut
// mid-frame and then a zero length, and errors after a complete frame.
func decoderSeeds() []decoderSeed {
	stream := seedStream()
	return []decoderSeed{
		{stream, 0},
		{stream, 1},
		{append(bytes.Clone(stream[:len(stream)/2]), 0, 0, 0, 0), 2},
		{append(wire.AppendPing(nil, 1), raw(0x0C)...), 3},
		{append(wire.AppendLogout(nil), wire.AppendError(nil, 1, "x")[:8]...), 4},
	}
}

// TestFuzzSeedsFit checks that every seed of the fuzz targets fits in what
// they look at, so none is minimized for minutes or cut.
func TestFuzzSeedsFit(t *testing.T) {
	for name, data := range seedCorpus() {
		if len(data) > maxFuzzInput {
			t.Errorf("FuzzDecode seed %s: %d bytes, over %d", name, len(data), maxFuzzInput)
		}
	}
	for _, tc := range roundTrips {
		if len(tc.wire) > maxFuzzInput {
			t.Errorf("FuzzDecode seed %s: %d bytes, over %d", tc.name, len(tc.wire), maxFuzzInput)
		}
	}
	for i, s := range decoderSeeds() {
		if len(s.data) > maxFuzzInput {
			t.Errorf("FuzzDecoder seed %d: %d bytes, over %d", i, len(s.data), maxFuzzInput)
		}
	}
}

// FuzzDecoder feeds the input to a Decoder in chunks whose sizes come from
// seed and checks it yields what a Decode loop over the whole input does:
// the same frames, then the same error or the same number of leftover bytes.
func FuzzDecoder(f *testing.F) {
	for _, s := range decoderSeeds() {
		f.Add(s.data, s.seed)
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		const max = maxFuzzBody
		data = fuzzInput(data)
		// Reference: a Decode loop over the whole input.
		var want []wire.Frame
		var wantErr error
		rest := data
		for {
			fr, n, err := wire.Decode(rest, max)
			if err != nil {
				wantErr = err
				break
			}
			if n == 0 {
				break
			}
			want = append(want, fr)
			rest = rest[n:]
		}

		r := rand.New(rand.NewPCG(seed, seed>>32))
		maxChunk := 1 + int(seed%64)
		d := wire.NewDecoder(max)
		var got []wire.Frame
		var gotErr error
		for in := data; len(in) > 0 && gotErr == nil; {
			k := min(1+r.IntN(maxChunk), len(in))
			d.Feed(in[:k])
			in = in[k:]
			for {
				fr, ok, err := d.Next()
				if err != nil {
					gotErr = err
					break
				}
				if !ok {
					break
				}
				if len(got) >= len(want) || !equalFrame(fr, want[len(got)]) {
					t.Fatalf("frame %d: %s, want one of %d frames", len(got), fmtFrame(fr), len(want))
				}
				got = append(got, fr)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d frames, want %d", len(got), len(want))
		}
		switch {
		case wantErr == nil && gotErr != nil:
			t.Fatalf("Decoder error %v; Decode loop has none", gotErr)
		case wantErr != nil && gotErr == nil:
			t.Fatalf("no Decoder error; Decode loop has %v", wantErr)
		case wantErr != nil:
			if *checkDecodeError(t, gotErr) != *checkDecodeError(t, wantErr) {
				t.Fatalf("Decoder error %v, Decode loop %v", gotErr, wantErr)
			}
			if _, _, again := d.Next(); again != gotErr {
				t.Fatalf("error not sticky: %v then %v", gotErr, again)
			}
		default:
			if d.Buffered() != len(rest) {
				t.Fatalf("Buffered = %d, want %d", d.Buffered(), len(rest))
			}
		}
	})
}
