package loadclient

import (
	"testing"
	"time"
)

// The grid is 5 ms for small swarms and 20 ms for large ones; finer than
// 20 ms only while the swarm's processes together wake at most gridWakeups
// times a second. On the finest grid each shard's grid is offset by its
// share of the swarm before it; on a coarser one every shard shares the
// same instants.
func TestGridPeriod(t *testing.T) {
	for _, tc := range []struct {
		procs int
		want  time.Duration
	}{
		{1, 5 * time.Millisecond},
		{6, 5 * time.Millisecond}, // the default bench
		{8, 5 * time.Millisecond},
		{12, 7500 * time.Microsecond},
		{16, 10 * time.Millisecond},
		{21, 13125 * time.Microsecond}, // 400,000 connections
		{32, 20 * time.Millisecond},
		{57, 20 * time.Millisecond}, // a million
	} {
		if got := gridPeriod(tc.procs); got != tc.want {
			t.Errorf("%d processes: grid %v, want %v", tc.procs, got, tc.want)
		}
		if got := gridPeriod(tc.procs); got < maxGrid && tc.procs*int(time.Second/got) > gridWakeups {
			t.Errorf("%d processes on a %v grid wake %d times a second, over %d", tc.procs, got, tc.procs*int(time.Second/got), gridWakeups)
		}
	}

	// A shard of a 6-process swarm (6 × 10,000 connections): a 5 ms grid,
	// its phase its share of the swarm before it, and requests planned on
	// its points.
	plan := &Plan{Conns: 60000, Shards: []Shard{{Index: 3, First: 30000, Count: 10000}}}
	c := newCore(Options{Shard: Shard{Index: 3, First: 30000, Count: 10000}}, plan)
	if c.grid != 5*time.Millisecond {
		t.Fatalf("grid %v, want 5ms", c.grid)
	}
	if want := int64(5*time.Millisecond) * 3 / 6; c.phase != want {
		t.Errorf("phase %v, want %v", time.Duration(c.phase), time.Duration(want))
	}
	for _, tt := range []int64{0, 1, 4_999_999, 5_000_000, 5_000_001} {
		on, last := c.onTick(tt), c.lastTick(tt)
		if on%int64(c.grid) != 0 || last%int64(c.grid) != 0 || on < tt || last > tt || on-last > int64(c.grid) {
			t.Errorf("t=%d: onTick %d, lastTick %d are not the grid's points around it", tt, on, last)
		}
	}

	// A shard of a 12-process swarm: a 7.5 ms grid, on the same instants
	// as every other shard.
	plan = &Plan{Conns: 120000, Shards: []Shard{{Index: 3, First: 30000, Count: 10000}}}
	c = newCore(Options{Shard: Shard{Index: 3, First: 30000, Count: 10000}}, plan)
	if c.grid != 7500*time.Microsecond || c.phase != 0 {
		t.Errorf("grid %v, phase %v; want 7.5ms, 0", c.grid, time.Duration(c.phase))
	}
}
