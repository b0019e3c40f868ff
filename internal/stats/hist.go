package stats

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"sync/atomic"
	"time"
)

// Histogram layout: values below 128 have a bucket each; above, every power of
// two is split into 64 linear sub-buckets (≤ 1.6% relative error). Values are
// nanoseconds; the top bucket holds everything from about 18 minutes up.
const (
	linearBuckets = 128
	subBits       = 6
	maxExp        = 34
	numBuckets    = (maxExp + 2) * 64
)

func bucketOf(v int64) int {
	if v < linearBuckets {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - (subBits + 1)
	if e > maxExp {
		return numBuckets - 1
	}
	return e*64 + int(uint64(v)>>uint(e))
}

// bucketHigh is the highest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < linearBuckets {
		return int64(i)
	}
	e := i/64 - 1
	m := int64(i%64 + 64)
	return (m+1)<<uint(e) - 1
}

// Recorder collects durations without locks or allocation; one goroutine or
// many may record while another takes snapshots.
type Recorder struct {
	counts [numBuckets]atomic.Int64
	sum    atomic.Int64
	max    atomic.Int64
}

// Record adds one sample.
func (r *Recorder) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	r.counts[bucketOf(v)].Add(1)
	r.sum.Add(v)
	for {
		m := r.max.Load()
		if v <= m || r.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot returns the samples recorded so far as mergeable data.
func (r *Recorder) Snapshot() Hist {
	var h Hist
	for i := range r.counts {
		if n := r.counts[i].Load(); n > 0 {
			h.Buckets = append(h.Buckets, Bucket{I: int32(i), N: n})
			h.Count += n
		}
	}
	h.Sum = r.sum.Load()
	h.Max = r.max.Load()
	return h
}

// Bucket is one non-empty histogram bucket: index and count.
type Bucket struct {
	I int32
	N int64
}

// UnmarshalJSON reads an [index, count] pair: how records written before
// the packed form (see Hist.MarshalJSON) stored buckets.
func (b *Bucket) UnmarshalJSON(p []byte) error {
	var a [2]int64
	if err := json.Unmarshal(p, &a); err != nil {
		return err
	}
	if a[0] < 0 || a[0] >= numBuckets || a[1] < 0 {
		return fmt.Errorf("histogram bucket [%d,%d] out of range", a[0], a[1])
	}
	b.I, b.N = int32(a[0]), a[1]
	return nil
}

// Hist is a histogram as data: it travels between processes and hosts and
// merges exactly, so percentiles over shards are computed from all samples,
// never averaged. Values are nanoseconds.
type Hist struct {
	Count   int64    `json:"count"`
	Sum     int64    `json:"sum_ns"`
	Max     int64    `json:"max_ns"`
	Buckets []Bucket `json:"buckets,omitempty"`
}

// histJSON is Hist on the wire. Buckets are packed into one base64 string
// of uvarint pairs (index minus the previous index, count): a shard sends a
// few thousand buckets a second to its parent, and decoding them as JSON
// arrays took most of the parent's CPU at 57 shards.
type histJSON struct {
	Count   int64           `json:"count"`
	Sum     int64           `json:"sum_ns"`
	Max     int64           `json:"max_ns"`
	Buckets json.RawMessage `json:"buckets,omitempty"`
}

// MarshalJSON writes h with its buckets packed.
func (h Hist) MarshalJSON() ([]byte, error) {
	out := histJSON{Count: h.Count, Sum: h.Sum, Max: h.Max}
	if len(h.Buckets) > 0 {
		packed := make([]byte, 0, 4*len(h.Buckets))
		prev := int32(0)
		for _, b := range h.Buckets {
			packed = binary.AppendUvarint(packed, uint64(b.I-prev))
			packed = binary.AppendUvarint(packed, uint64(b.N))
			prev = b.I
		}
		out.Buckets = strconv.AppendQuote(nil, base64.StdEncoding.EncodeToString(packed))
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the packed buckets, or the [[index, count], …] array
// of older records.
func (h *Hist) UnmarshalJSON(p []byte) error {
	var in histJSON
	if err := json.Unmarshal(p, &in); err != nil {
		return err
	}
	*h = Hist{Count: in.Count, Sum: in.Sum, Max: in.Max}
	switch {
	case len(in.Buckets) == 0 || string(in.Buckets) == "null":
		return nil
	case in.Buckets[0] == '[':
		return json.Unmarshal(in.Buckets, &h.Buckets)
	}
	var text string
	if err := json.Unmarshal(in.Buckets, &text); err != nil {
		return err
	}
	packed, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return fmt.Errorf("histogram buckets: %w", err)
	}
	idx := int64(0)
	for len(packed) > 0 {
		d, n1 := binary.Uvarint(packed)
		if n1 <= 0 {
			return fmt.Errorf("histogram buckets: bad index")
		}
		c, n2 := binary.Uvarint(packed[n1:])
		if n2 <= 0 {
			return fmt.Errorf("histogram buckets: bad count")
		}
		packed = packed[n1+n2:]
		idx += int64(d)
		if idx >= numBuckets || c > math.MaxInt64 {
			return fmt.Errorf("histogram bucket [%d,%d] out of range", idx, c)
		}
		h.Buckets = append(h.Buckets, Bucket{I: int32(idx), N: int64(c)})
	}
	return nil
}

// Merge adds o's samples to h.
func (h *Hist) Merge(o Hist) {
	if o.Count == 0 {
		return
	}
	h.Count += o.Count
	h.Sum += o.Sum
	h.Max = max(h.Max, o.Max)
	if len(h.Buckets) == 0 {
		h.Buckets = append([]Bucket(nil), o.Buckets...)
		return
	}
	merged := make([]Bucket, 0, len(h.Buckets)+len(o.Buckets))
	i, j := 0, 0
	for i < len(h.Buckets) || j < len(o.Buckets) {
		switch {
		case j == len(o.Buckets) || (i < len(h.Buckets) && h.Buckets[i].I < o.Buckets[j].I):
			merged = append(merged, h.Buckets[i])
			i++
		case i == len(h.Buckets) || o.Buckets[j].I < h.Buckets[i].I:
			merged = append(merged, o.Buckets[j])
			j++
		default:
			merged = append(merged, Bucket{I: h.Buckets[i].I, N: h.Buckets[i].N + o.Buckets[j].N})
			i++
			j++
		}
	}
	h.Buckets = merged
}

// Since returns the samples in h that were not yet in prev, an earlier
// snapshot of the same recorder: the histogram of one interval. Max is h's.
func (h Hist) Since(prev Hist) Hist {
	out := Hist{Count: h.Count - prev.Count, Sum: h.Sum - prev.Sum, Max: h.Max}
	j := 0
	for _, b := range h.Buckets {
		for j < len(prev.Buckets) && prev.Buckets[j].I < b.I {
			j++
		}
		if j < len(prev.Buckets) && prev.Buckets[j].I == b.I {
			b.N -= prev.Buckets[j].N
		}
		if b.N > 0 {
			out.Buckets = append(out.Buckets, b)
		}
	}
	return out
}

// LatencySince returns, for each histogram in cur, the samples not yet in
// prev (an earlier snapshot of the same recorders): the latencies of one
// interval. A histogram with fewer samples than before (its process
// restarted) is left out: its interval is unknown.
func LatencySince(cur, prev map[string]Hist) map[string]Hist {
	out := make(map[string]Hist, len(cur))
	for name, h := range cur {
		p := prev[name]
		if p.Count <= h.Count {
			out[name] = h.Since(p)
		}
	}
	return out
}

// Quantile returns the value at quantile q (0..1): the highest value of the
// bucket holding that rank, capped at the largest sample seen.
func (h Hist) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.Count)))
	rank = max(rank, 1)
	var seen int64
	for _, b := range h.Buckets {
		seen += b.N
		if seen >= rank {
			return time.Duration(min(bucketHigh(int(b.I)), h.Max))
		}
	}
	return time.Duration(h.Max)
}

// Mean is the average sample.
func (h Hist) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return time.Duration(h.Sum / h.Count)
}

// HistOf builds a histogram from raw samples (tests and tools).
func HistOf(samples ...time.Duration) Hist {
	var r Recorder
	for _, s := range samples {
		r.Record(s)
	}
	return r.Snapshot()
}
