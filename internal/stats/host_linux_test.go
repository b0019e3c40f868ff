package stats

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseSockstat(t *testing.T) {
	var h Host
	parseSockstat([]byte("sockets: used 120\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 3\nUDP: inuse 1 mem 0\n"), &h)
	if h.TCPInUse != 5 || h.TCPTimeWait != 2 || h.TCPMemPages != 3 {
		t.Fatalf("%+v", h)
	}
}

func TestCountFDs(t *testing.T) {
	before, err := countFDs()
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for i := 0; i < 50; i++ {
		f, err := os.Open("/proc/self/stat")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	after, _ := countFDs()
	for _, f := range files {
		f.Close()
	}
	if after-before != 50 {
		t.Fatalf("opened 50 files: count went %d → %d", before, after)
	}
	if a := testing.AllocsPerRun(10, func() { countFDs() }); a > 0 {
		t.Fatalf("countFDs allocates %.0f times", a)
	}
}

// BenchmarkCountFDs counts in a process holding 18,000 sockets, as a shard
// of a million-connection bench does.
func BenchmarkCountFDs(b *testing.B) {
	for i := 0; i < 9000; i++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := countFDs(); err != nil || n < 18000 {
			b.Fatalf("%d fds, %v", n, err)
		}
	}
}

// TestFDCountIsLive checks that the fd count the snapshots carry follows
// opens and closes at once, against the poll(2) count as the independent
// observer (on kernels before 6.2 it is the periodic poll count itself).
func TestFDCountIsLive(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &st); err != nil || st.Size == 0 {
		t.Skip("this kernel does not report the fd count as the size of /proc/self/fd (needs 6.2)")
	}
	before, age := fdCount()
	if age != 0 {
		t.Fatalf("a live count is %v s old", age)
	}
	var files []*os.File
	t.Cleanup(func() {
		for _, f := range files {
			f.Close()
		}
	})
	for i := 0; i < 50; i++ {
		f, err := os.Open("/proc/self/stat")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	after, _ := fdCount()
	polled, err := countFDs()
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 50 || after != polled {
		t.Fatalf("opened 50 files: fdCount went %d → %d; poll(2) counts %d", before, after, polled)
	}
}

// BenchmarkFDCount is fdCount in a process holding 18,000 sockets.
func BenchmarkFDCount(b *testing.B) {
	for i := 0; i < 9000; i++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, _ := fdCount(); n < 18000 {
			b.Fatalf("%d fds", n)
		}
	}
}

// Where the kernel does not report the count, it is polled now and then,
// and its age says how old it is.
func TestFDCountFallbackHasAge(t *testing.T) {
	saved := fdDir
	fdDir = "/nonexistent"
	t.Cleanup(func() { fdDir = saved })
	fdsMu.Lock()
	fdsNext, fdsAt = time.Time{}, time.Time{}
	fdsMu.Unlock()
	n, age := fdCount()
	polled, err := countFDs()
	if err != nil || n != polled || age > 1 {
		t.Fatalf("fallback count %d (%v s old), poll(2) %d %v", n, age, polled, err)
	}
	fdsMu.Lock()
	fdsAt = fdsAt.Add(-20 * time.Second) // as if counted 20 s ago
	fdsMu.Unlock()
	if _, age := fdCount(); age < 20 || age > 21 {
		t.Fatalf("age %v s, want 20", age)
	}
}
