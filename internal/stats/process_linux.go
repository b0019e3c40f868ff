package stats

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

var pageSize = int64(os.Getpagesize())

// readOSProcess reads RSS and CPU from /proc/self/stat, counts /proc/self/fd
// and asks getrlimit for the fd limit.
func readOSProcess(p *Process) {
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command name, which is in parentheses and may hold spaces.
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := bytes.Fields(b[i+1:])
			// f[0] is field 3 (state); utime=14, stime=15, rss=24.
			if len(f) > 21 {
				ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
				st, _ := strconv.ParseInt(string(f[12]), 10, 64)
				rss, _ := strconv.ParseInt(string(f[21]), 10, 64)
				p.CPUSeconds = float64(ut+st) / 100 // USER_HZ is 100 on Linux
				p.RSSBytes = rss * pageSize
			}
		}
	}
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, _ := d.Readdirnames(-1)
		d.Close()
		p.FDs = int64(len(names)) - 1 // the directory itself was open while reading
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		p.FDLimit = int64(rl.Cur)
	}
}
