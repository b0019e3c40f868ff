// Package shard runs N copies of this binary, each with a slice of the work,
// and gathers their snapshots. It is how imtool goes past one process's
// RLIMIT_NOFILE: the server shards its listeners (SO_REUSEPORT), the swarm
// its plan.
//
// A child learns it is a shard from its environment (see Child), and its
// options too: Spec.Options, the whole options value as JSON in one
// environment variable (never argv, which every user of the host may read),
// read back with Link.Options — so every field reaches the child, a new one
// included, with nothing to re-serialise as flags. It receives
// control lines (a lifecycle.Command each) on its standard input and
// publishes one JSON snapshot per line on file descriptor 3. When the
// parent goes away the child's command channel closes (and on Linux it also
// gets SIGTERM), so shards never outlive their parent.
package shard

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
)

const (
	envIndex   = "IMTOOL_SHARD_INDEX"
	envOptions = "IMTOOL_SHARD_OPTIONS"
	// maxOptions is the most the options may take as JSON: the kernel's
	// bound on one environment string (MAX_ARG_STRLEN, 128 KiB).
	maxOptions = 128<<10 - len(envOptions) - 2
)

// Spec describes a group of shards.
type Spec struct {
	Name   string               // for messages: "gateway", "swarm"
	N      int                  // how many children
	Args   func(i int) []string // command line of child i, without the program name
	Env    func(i int) []string // extra environment of child i (may be nil)
	Stderr io.Writer            // where children's stderr goes (default os.Stderr)
	Stdout io.Writer            // where children's stdout goes (default: discarded)
	Exe    string               // binary to run (default os.Executable())
	// Procs is each child's GOMAXPROCS. 0: one when there are at least as
	// many children as cores (so a hundred processes do not each run a
	// thread per core and thrash the scheduler), the runtime's own else.
	// A GOMAXPROCS in this process's environment overrides both.
	Procs int
	// Options, when set, are child i's options: any value encoding/json
	// writes, read back in the child with Link.Options.
	Options func(i int) any
}

// Exit reports a child that ended.
type Exit struct {
	Index int
	PID   int
	Err   error // nil for a clean exit
}

// Group is a running set of shards.
type Group struct {
	spec     Spec
	exe      string
	mu       sync.Mutex // guards children: Restart replaces one
	children []*child
	exits    chan Exit
	wg       sync.WaitGroup
}

// exitsSlack is how many more exits than children the Exits channel holds
// unread, for the children that Restart starts again.
const exitsSlack = 64

type child struct {
	cmd   *exec.Cmd
	ctl   io.WriteCloser
	mu    sync.Mutex
	last  stats.Snapshot
	ended bool
	err   error
}

// Start runs spec.N children. If one fails to start, those already started
// are killed and the error is returned.
func Start(spec Spec) (*Group, error) {
	if spec.N < 1 {
		return nil, fmt.Errorf("shard: %s needs at least one process, got %d", spec.Name, spec.N)
	}
	exe := spec.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("cannot find this program to start %s shards: %w", spec.Name, err)
		}
	}
	if os.Getenv("GOGC") == "" {
		// This process holds none of the shards' connections: its heap is
		// their snapshots, decoded every second. imtool's low GC target
		// (cmd/imtool) is for processes that hold connections; kept here,
		// it made a million's bench collect four times a second, 2.8% of
		// a two-core machine.
		debug.SetGCPercent(100)
	}
	g := &Group{spec: spec, exe: exe, exits: make(chan Exit, spec.N+exitsSlack)}
	for i := 0; i < spec.N; i++ {
		c, err := g.start(i)
		if err != nil {
			g.Signal(os.Kill)
			g.Wait()
			return nil, fmt.Errorf("cannot start %s shard %d of %d: %w", spec.Name, i+1, spec.N, err)
		}
		g.children = append(g.children, c)
	}
	return g, nil
}

// Restart starts child i again, with the same command line, once it has
// ended: what a supervisor does for a shard that died. Its snapshots start
// over when the new process publishes.
func (g *Group) Restart(i int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i < 0 || i >= len(g.children) {
		return fmt.Errorf("shard: %s has no shard %d", g.spec.Name, i)
	}
	old := g.children[i]
	old.mu.Lock()
	ended := old.ended
	old.mu.Unlock()
	if !ended {
		return fmt.Errorf("shard: %s shard %d (pid %d) is still running", g.spec.Name, i, old.cmd.Process.Pid)
	}
	c, err := g.start(i)
	if err != nil {
		return fmt.Errorf("cannot restart %s shard %d: %w", g.spec.Name, i, err)
	}
	g.children[i] = c
	return nil
}

func (g *Group) list() []*child {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.children)
}

func (g *Group) start(i int) (*child, error) {
	cmd := exec.Command(g.exe, g.spec.Args(i)...)
	cmd.Env = append(os.Environ(), envIndex+"="+strconv.Itoa(i))
	if os.Getenv("GOMAXPROCS") == "" {
		switch {
		case g.spec.Procs > 0:
			cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(g.spec.Procs))
		case g.spec.N >= runtime.NumCPU():
			cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
		}
	}
	if g.spec.Env != nil {
		cmd.Env = append(cmd.Env, g.spec.Env(i)...)
	}
	if g.spec.Options != nil {
		kv, err := OptionsEnv(g.spec.Options(i))
		if err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Stderr = g.spec.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.Stdout = g.spec.Stdout
	SetParentDeathSignal(cmd)
	ctl, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{pw} // fd 3 in the child
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	if g.spec.N >= runtime.NumCPU() {
		lowerPriority(cmd.Process.Pid)
	}
	c := &child{cmd: cmd, ctl: ctl}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		c.read(pr, i)
		err := cmd.Wait()
		c.mu.Lock()
		c.ended, c.err = true, err
		c.last.Down = true
		c.mu.Unlock()
		g.exits <- Exit{Index: i, PID: cmd.Process.Pid, Err: err}
	}()
	return c, nil
}

// read takes snapshots from the child's fd 3 until it closes.
func (c *child) read(r io.ReadCloser, i int) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var s stats.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			continue // a torn line from a dying child; the next one will do
		}
		if s.ID == "" {
			s.ID = strconv.Itoa(i)
		}
		c.mu.Lock()
		c.last = s
		c.mu.Unlock()
	}
}

// PIDs returns the children's process ids.
func (g *Group) PIDs() []int {
	children := g.list()
	pids := make([]int, len(children))
	for i, c := range children {
		pids[i] = c.cmd.Process.Pid
	}
	return pids
}

// Snapshots returns the latest snapshot of each child, in index order. A
// child that has exited keeps its last numbers and is marked Down.
func (g *Group) Snapshots() []stats.Snapshot {
	children := g.list()
	out := make([]stats.Snapshot, len(children))
	for i, c := range children {
		c.mu.Lock()
		out[i] = c.last.Clone()
		c.mu.Unlock()
	}
	return out
}

// Send writes one control line to every running child.
func (g *Group) Send(cmd lifecycle.Command) {
	for _, c := range g.list() {
		c.mu.Lock()
		ended := c.ended
		c.mu.Unlock()
		if !ended {
			_, _ = io.WriteString(c.ctl, string(cmd)+"\n")
		}
	}
}

// Signal sends sig to every running child.
func (g *Group) Signal(sig os.Signal) {
	for _, c := range g.list() {
		c.mu.Lock()
		if !c.ended {
			_ = c.cmd.Process.Signal(sig)
		}
		c.mu.Unlock()
	}
}

// Exits delivers one Exit for each child that ends.
func (g *Group) Exits() <-chan Exit { return g.exits }

// Wait waits for every child to end and returns an error naming those that
// failed.
func (g *Group) Wait() error {
	for _, c := range g.list() {
		_ = c.ctl.Close()
	}
	g.wg.Wait()
	var errs []error
	for i, c := range g.list() {
		if c.err != nil {
			errs = append(errs, fmt.Errorf("%s shard %d (pid %d): %w", g.spec.Name, i, c.cmd.Process.Pid, c.err))
		}
	}
	return errors.Join(errs...)
}

// Link is a shard's connection to its parent.
type Link struct {
	Index    int
	Commands <-chan lifecycle.Command // control lines; closed when the parent is gone
	mu       sync.Mutex
	out      *os.File
	enc      *json.Encoder
}

// Child reports whether this process is a shard and, if so, returns its link.
func Child() (*Link, bool) {
	v, ok := os.LookupEnv(envIndex)
	if !ok {
		return nil, false
	}
	idx, err := strconv.Atoi(v)
	if err != nil {
		return nil, false
	}
	out := os.NewFile(3, "shard-stats")
	cmds := make(chan lifecycle.Command, 8)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if c, err := lifecycle.ParseCommand(sc.Text()); err == nil {
				cmds <- c
			}
		}
	}()
	return &Link{Index: idx, Commands: cmds, out: out, enc: json.NewEncoder(out)}, true
}

// Publish sends a snapshot to the parent. Errors (a parent that is gone) are
// dropped: the command channel tells the child to stop.
func (l *Link) Publish(s stats.Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.enc.Encode(s)
}

// OptionsEnv is the environment entry that carries a child's options: v as
// JSON.
func OptionsEnv(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot encode a shard's options: %w", err)
	}
	if len(b) > maxOptions {
		return "", fmt.Errorf("a shard's options take %d bytes as JSON, more than the %d one environment variable may hold: shorten the largest (a --payload-file?)", len(b), maxOptions)
	}
	return envOptions + "=" + string(b), nil
}

// ReadOptions decodes this process's options, as its parent's
// Spec.Options wrote them, into v. A field v does not know is an error:
// parent and child are the same binary, so it means a mismatch.
func ReadOptions(v any) error {
	s, ok := os.LookupEnv(envOptions)
	if !ok {
		return fmt.Errorf("this shard got no options from its parent (%s is not set)", envOptions)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("cannot read this shard's options (%s): %w", envOptions, err)
	}
	return nil
}

// Options decodes the options the parent gave this shard into v
// (ReadOptions).
func (l *Link) Options(v any) error { return ReadOptions(v) }
