package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imtool/imtool/internal/runner"
)

// netnsEnv marks the bench process that runs inside the namespace.
const netnsEnv = "IMTOOL_BENCH_NETNS"

// InNetns tells whether this process is the bench RunInNetns started.
func InNetns() bool { return os.Getenv(netnsEnv) == "1" }

// RunInNetns runs this command line again in a network namespace of its
// own and returns its exit code. The namespace gets a TCP established hash
// sized for conns — a namespace made from one whose
// net.ipv4.tcp_child_ehash_entries is set gets its own table; the host's
// one is shared by every socket of the host, 262,144 buckets here, and its
// lookup was 6% of a million-connection run's CPU — and the host's
// settings stay as they are: both namespaces end with the run. Needs root.
func RunInNetns(args []string, conns int) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("--netns makes network namespaces: run it as root (or without --netns)")
	}
	exe, err := exePath()
	if err != nil {
		return 0, err
	}
	// Ctrl-C reaches the child from the terminal (same process group), so
	// it is not passed on: twice would make it exit at once. SIGTERM, sent
	// to this process alone, is.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// The intermediate namespace belongs to one locked thread, which starts
	// the child from it and is then thrown away (the goroutine ends locked).
	started, ended := make(chan error, 1), make(chan struct{})
	var (
		cmd     *exec.Cmd
		waitErr error
	)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			started <- fmt.Errorf("--netns: cannot make a network namespace: %w", err)
			return
		}
		if err := writeSysctl("net/ipv4/tcp_child_ehash_entries", strconv.Itoa(ehashEntries(conns))); err != nil {
			started <- fmt.Errorf("--netns: cannot size the namespace's TCP hash (net.ipv4.tcp_child_ehash_entries needs Linux 6.1 or newer): %w", err)
			return
		}
		cmd = exec.Command(exe, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		// Pdeathsig follows the thread that started the child: it must
		// live until the child has ended, so this goroutine waits too.
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("--netns: cannot start the bench in its namespace: %w", err)
			return
		}
		started <- nil
		waitErr = cmd.Wait()
		close(ended)
	}()
	if err := <-started; err != nil {
		return 0, err
	}
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGTERM {
				_ = cmd.Process.Signal(s)
			}
		case <-ended:
			var ee *exec.ExitError
			switch {
			case errors.As(waitErr, &ee) && ee.ExitCode() >= 0:
				return ee.ExitCode(), nil
			case waitErr != nil: // killed by a signal, or never waited for
				return runner.ExitFailed, fmt.Errorf("the bench in its namespace: %w", waitErr)
			}
			return 0, nil
		}
	}
}

// ehashEntries is a power of two with a bucket for every socket of the run
// (both ends, listeners and links), within what the kernel accepts.
func ehashEntries(conns int) int {
	n := 1 << 16
	for n < 2*conns+4096 && n < 1<<24 {
		n <<= 1
	}
	return n
}

// SetUpNetns prepares the namespace RunInNetns made, from inside it: the
// loopback up, and reno congestion control when the host allows it (BBR,
// the default on many hosts, paces every segment with a timer; a namespace
// may choose only from net.ipv4.tcp_allowed_congestion_control). It returns
// what it did, for the person at the terminal.
func SetUpNetns() (string, error) {
	if err := loopbackUp(); err != nil {
		return "", fmt.Errorf("--netns: cannot bring up the loopback: %w", err)
	}
	ehash, _ := readSysctl("net/ipv4/tcp_ehash_entries")
	cc := "reno"
	if err := writeSysctl("net/ipv4/tcp_congestion_control", cc); err != nil {
		cc, _ = readSysctl("net/ipv4/tcp_congestion_control")
		cc += " (reno is not in net.ipv4.tcp_allowed_congestion_control)"
	}
	return fmt.Sprintf("bench: in a network namespace of its own: TCP hash %s buckets, congestion control %s, host settings untouched", ehash, cc), nil
}

func writeSysctl(name, value string) error {
	return os.WriteFile("/proc/sys/"+name, []byte(value), 0)
}

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// loopbackUp sets IFF_UP on lo (SIOCSIFFLAGS), as `ip link set lo up` does.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
