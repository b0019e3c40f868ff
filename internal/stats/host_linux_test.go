package stats

import "testing"

func TestParseSockstat(t *testing.T) {
	var h Host
	parseSockstat([]byte("sockets: used 120\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 3\nUDP: inuse 1 mem 0\n"), &h)
	if h.TCPInUse != 5 || h.TCPTimeWait != 2 || h.TCPMemPages != 3 {
		t.Fatalf("%+v", h)
	}
}
