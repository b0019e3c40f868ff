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
	"syscall"
	"time"

	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/shard"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/tui"
)

// services are the dispatcher and the (sharded) gateway a bench starts as
// processes of this binary, on loopback.
type services struct {
	disp, server *exec.Cmd
	poller       *tui.Poller
	serverStats  string
	dispStats    string
}

// serviceOptions say what the gateway must serve.
type serviceOptions struct {
	Exe      string   // this binary
	Ports    []uint16 // gateway ports on 127.0.0.1
	MaxConns int      // the gateway shards hold at least this many
	Args     []string // extra gateway flags (--broadcast, --auth-secret via env, …)
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
	s := &services{dispStats: addrs[1], serverStats: addrs[2]}
	s.disp = exec.Command(o.Exe, "dispatcher", "--listen", addrs[0], "--stats", addrs[1])
	s.server = exec.Command(o.Exe, append([]string{"server", "--listen", "127.0.0.1",
		"--ports", portspec.String(o.Ports), "--procs", "auto", "--max-conns", strconv.Itoa(o.MaxConns),
		"--dispatcher", addrs[0], "--stats", addrs[2]}, o.Args...)...)
	for _, c := range []*exec.Cmd{s.disp, s.server} {
		c.Stdout, c.Stderr = o.Log, o.Log
		shard.SetParentDeathSignal(c)
		if err := c.Start(); err != nil {
			s.stop()
			return nil, fmt.Errorf("cannot start %s: %w", c.Args[1], err)
		}
	}
	s.poller, err = tui.NewPoller(tui.PollOptions{Server: "http://" + addrs[2], Dispatcher: "http://" + addrs[1], Interval: time.Second})
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
	if srv == nil || srv.Down || len(srv.Shards) == 0 || smp.Dispatcher == nil || smp.Dispatcher.Down {
		return false
	}
	for _, sh := range srv.Shards {
		if sh.Down || sh.Dispatcher != "up" || len(sh.Ports) == 0 {
			return false
		}
	}
	return smp.Dispatcher.Gateways == int64(len(srv.Shards))
}

// observe returns the gateway's and dispatcher's snapshots now.
func (s *services) observe(ctx context.Context) (server, dispatcher *stats.Snapshot) {
	smp := s.poller.Poll(ctx)
	return smp.Server, smp.Dispatcher
}

// stop ends both processes gracefully (SIGTERM: the gateways send ERROR 9
// and exit), and kills what is still there after a grace period.
func (s *services) stop() error {
	var errs []error
	for _, c := range []*exec.Cmd{s.server, s.disp} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.Args[1], err))
			}
		case <-time.After(15 * time.Second):
			_ = c.Process.Kill()
			<-done
			errs = append(errs, fmt.Errorf("%s did not stop within 15s and was killed", c.Args[1]))
		}
	}
	return errors.Join(errs...)
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
	pids := []int{s.disp.Process.Pid, s.server.Process.Pid}
	if srv, _ := s.observe(context.Background()); srv != nil {
		for _, sh := range srv.Shards {
			if sh.PID != 0 {
				pids = append(pids, sh.PID)
			}
		}
	}
	return pids
}
