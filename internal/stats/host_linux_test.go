package stats

import (
	"os"
	"testing"
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
	if a := testing.AllocsPerRun(10, func() { countFDs() }); a > 1 { // the path's C string, not one per fd
		t.Fatalf("countFDs allocates %.0f times", a)
	}
}
