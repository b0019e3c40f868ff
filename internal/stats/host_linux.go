package stats

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// readSockstat fills the TCP counts from /proc/net/sockstat, e.g.
// "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1".
func readSockstat(h *Host) {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return
	}
	parseSockstat(b, h)
}

func parseSockstat(b []byte, h *Host) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 || string(f[0]) != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseInt(string(f[i+1]), 10, 64)
			switch string(f[i]) {
			case "inuse":
				h.TCPInUse = v
			case "tw":
				h.TCPTimeWait = v
			case "mem":
				h.TCPMemPages = v
			}
		}
	}
}
