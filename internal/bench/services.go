package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/stats"
)

// services are the dispatcher and the (sharded) gateway a bench starts as
// processes of this binary, on loopback.
type services struct {
	mu           sync.Mutex // guards disp: a fault replaces it
	disp, server *proc
	pollMu       sync.Mutex // a Poller is not safe for concurrent use: the run and the faults both ask
	poller       *stats.Poller
	exe          string
	log          io.Writer
	dispArgs     []string
}

// proc is a started process whose end is watched.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has ended
	err  error         // its exit status, valid after done
}

func startProc(exe string, log io.Writer, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(exe, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = log, log
	shard.SetParentDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", args[0], err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// serviceOptions say what the gateway must serve.
type serviceOptions struct {
	Exe      string   // this binary
	Ports    []uint16 // gateway ports on 127.0.0.1
	WS       bool     // the ports speak WebSocket (imtool server --ws-ports)
	MaxConns int      // the gateway shards hold at least this many
	Args     []string // extra gateway flags (--broadcast, --restart-shards, …)
	Procs    int      // gateway processes; 0: as many as the fd limit requires
	Log      io.Writer
	Ready    time.Duration // how long the gateway may take to come up
}

// startServices starts `imtool dispatcher` and `imtool server --procs auto`
// and waits until every gateway shard listens and is linked to the
// dispatcher.
func startServices(ctx context.Context, o serviceOptions) (*services, error) {
	addrs, err := freeLoopbackAddrs(3)
	if err != nil {
		return nil, err
	}
	s := &services{exe: o.Exe, log: o.Log, dispArgs: []string{"dispatcher", "--listen", addrs[0], "--stats", addrs[1]}}
	if s.disp, err = startProc(o.Exe, o.Log, s.dispArgs...); err != nil {
		return nil, err
	}
	portFlag := "--ports"
	if o.WS {
		portFlag = "--ws-ports"
	}
	procs := "auto"
	if o.Procs > 0 {
		procs = strconv.Itoa(o.Procs)
	}
	if s.server, err = startProc(o.Exe, o.Log, append([]string{"server", "--listen", "127.0.0.1",
		portFlag, portspec.String(o.Ports), "--procs", procs, "--max-conns", strconv.Itoa(o.MaxConns),
		"--dispatcher", addrs[0], "--stats", addrs[2]}, o.Args...)...); err != nil {
		s.stop()
		return nil, err
	}
	s.poller, err = stats.NewPoller(stats.PollOptions{Server: "http://" + addrs[2], Dispatcher: "http://" + addrs[1], Interval: time.Second})
	if err != nil {
		s.stop()
		return nil, err
	}
	deadline := time.Now().Add(o.Ready)
	for {
		smp := s.poller.Poll(ctx)
		if ready(smp) {
			return s, nil
		}
		for _, p := range s.procs() {
			if p.exited() {
				s.stop()
				return nil, fmt.Errorf("imtool %s ended before the run started (%v): its output is in the services log", p.cmd.Args[1], p.err)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("the gateway did not come up within %v (are ports %s free? see the log above)", o.Ready, portspec.String(o.Ports))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready: every shard reported, listens on every port and has its link up.
func ready(smp stats.Sample) bool {
	srv := smp.Server
	if srv == nil || srv.Down || smp.Dispatcher == nil || smp.Dispatcher.Down {
		return false
	}
	shards := srv.Shards
	if len(shards) == 0 { // one gateway process: it is its own only shard
		shards = []stats.Snapshot{*srv}
	}
	for _, sh := range shards {
		if sh.Down || sh.Dispatcher != "up" || len(sh.Ports) == 0 {
			return false
		}
	}
	return smp.Dispatcher.Gateways == int64(len(shards))
}

// observe returns the gateway's and dispatcher's snapshots now.
func (s *services) observe(ctx context.Context) (server, dispatcher *stats.Snapshot) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	smp := s.poller.Poll(ctx)
	return smp.Server, smp.Dispatcher
}

// stop ends both processes gracefully (SIGTERM: the gateways send ERROR 9
// and exit), and kills what is still there after a grace period.
func (s *services) stop() error {
	var errs []error
	ps := s.procs()
	for _, p := range []*proc{ps[1], ps[0]} {
		if p == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("imtool %s did not stop within 15s and was killed", p.cmd.Args[1]))
			continue
		}
		if p.err != nil {
			errs = append(errs, fmt.Errorf("imtool %s: %w", p.cmd.Args[1], p.err))
		}
	}
	return errors.Join(errs...)
}

// procs are the dispatcher and the gateway's parent process, now.
func (s *services) procs() [2]*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return [2]*proc{s.disp, s.server}
}

// dispatcherPID is the running dispatcher's process id.
func (s *services) dispatcherPID() int { return s.procs()[0].cmd.Process.Pid }

// killDispatcher SIGKILLs the dispatcher and starts it again on the same
// addresses, as a supervisor would; the gateways' links redial it.
func (s *services) killDispatcher() (pid int, err error) {
	old := s.procs()[0]
	pid = old.cmd.Process.Pid
	if err := old.cmd.Process.Kill(); err != nil {
		return pid, fmt.Errorf("cannot kill the dispatcher (pid %d): %w", pid, err)
	}
	<-old.done
	p, err := startProc(s.exe, s.log, s.dispArgs...)
	if err != nil {
		return pid, fmt.Errorf("the dispatcher was killed and could not be started again: %w", err)
	}
	s.mu.Lock()
	s.disp = p
	s.mu.Unlock()
	return pid, nil
}

// freeLoopbackAddrs returns n 127.0.0.1 addresses with ports free right now.
func freeLoopbackAddrs(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot find a free loopback port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

func exePath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find this program to start the gateway: %w", err)
	}
	return exe, nil
}

// pids are the processes the services consist of: the dispatcher, the
// gateway's parent and its shards.
func (s *services) pids() []int {
	ps := s.procs()
	pids := []int{ps[0].cmd.Process.Pid, ps[1].cmd.Process.Pid}
	if srv, _ := s.observe(context.Background()); srv != nil {
		for _, sh := range srv.Shards {
			if sh.PID != 0 {
				pids = append(pids, sh.PID)
			}
		}
	}
	return pids
}
