package stats

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/host"
)

var pageSize = int64(os.Getpagesize())

// readOSProcess reads RSS and CPU from /proc/self/stat and private memory
// from /proc/self/statm, counts the open fds (countFDs) and asks the kernel
// for the fd limit.
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
	p.PrivateBytes = privateBytes("/proc/self/statm")
	p.FDs, p.FDsAgeS = fdCount()
	if lim, err := host.ProcessNofile(); err == nil {
		p.FDLimit = lim.Soft
	}
}

// PrivateBytesOf is process pid's private memory as Process.PrivateBytes
// counts it (resident less file-backed and shared), 0 if it cannot be read.
func PrivateBytesOf(pid int) int64 {
	return privateBytes("/proc/" + strconv.Itoa(pid) + "/statm")
}

// privateBytes reads a statm file: size resident shared … in pages; shared
// is file-backed (and shmem).
func privateBytes(statm string) int64 {
	b, err := os.ReadFile(statm)
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0
	}
	res, _ := strconv.ParseInt(string(f[1]), 10, 64)
	shared, _ := strconv.ParseInt(string(f[2]), 10, 64)
	return (res - shared) * pageSize
}

// fdsEvery is about how often fdCount really counts (each count polls
// every fd number below the limit: a few milliseconds at 20,000). Each
// interval is drawn between half and one and a half of it, so the shards of
// a run, started together, do not all count in the same instant.
const fdsEvery = 30 * time.Second

var (
	fdsMu   sync.Mutex
	fdsNext time.Time
	fdsLast int64
	fdsAt   time.Time
)

// fdDir is where the kernel lists this process's fds.
var fdDir = "/proc/self/fd"

// fdCount returns the number of open fds and how many seconds old that
// count is: live (0) where the kernel (6.2 and later) reports the count as
// the size of /proc/self/fd, which it reads from the fd bitmap without
// building a dentry per descriptor; elsewhere counted about every fdsEvery.
func fdCount() (int64, float64) {
	var st unix.Stat_t
	if unix.Stat(fdDir, &st) == nil && st.Size > 0 {
		return st.Size, 0
	}
	fdsMu.Lock()
	defer fdsMu.Unlock()
	now := time.Now()
	if !now.Before(fdsNext) {
		if n, err := countFDs(); err == nil {
			fdsLast, fdsAt = n, now
			fdsNext = now.Add(fdsEvery/2 + rand.N(fdsEvery))
		}
	}
	if fdsAt.IsZero() {
		return fdsLast, 0
	}
	return fdsLast, now.Sub(fdsAt).Seconds()
}

// pollBuf is reused by countFDs: one entry per fd number below the limit.
var (
	pollMu  sync.Mutex
	pollBuf []unix.PollFd
)

// countFDs counts the open descriptors: one poll(2) over every fd number
// below RLIMIT_NOFILE, without waiting; the kernel answers POLLNVAL for the
// numbers that are not open. It does not list /proc/self/fd, which makes the
// kernel build a dentry per descriptor: 16.6% of the machine's CPU in the
// hold of a million-connection bench, with each of ~120 processes listing
// only every 30 s.
func countFDs() (int64, error) {
	lim, err := host.ProcessNofile()
	if err != nil {
		return 0, err
	}
	n := int(min(uint64(lim.Soft), 1<<20)) // unlimited (-1) reads as huge
	pollMu.Lock()
	defer pollMu.Unlock()
	if len(pollBuf) != n {
		pollBuf = make([]unix.PollFd, n)
	}
	for i := range pollBuf {
		pollBuf[i] = unix.PollFd{Fd: int32(i)}
	}
	if _, err := unix.Poll(pollBuf, 0); err != nil {
		return 0, err
	}
	var open int64
	for _, p := range pollBuf {
		if p.Revents&unix.POLLNVAL == 0 {
			open++
		}
	}
	return open, nil
}
