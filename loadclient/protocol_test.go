package loadclient

import (
	"testing"
	"unsafe"
)

// A connection's whole state in the epoll engine stays 32 bytes, whatever
// the protocol: what a protocol needs beyond it lives in per-loop maps only
// while it exists.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n != 32 {
		t.Fatalf("conn is %d bytes, want 32", n)
	}
}
