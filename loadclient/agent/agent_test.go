package agent

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/internal/testfill"
	"github.com/imtool/imtool/loadclient"
)

// fakeRun is a Run that records its commands.
type fakeRun struct {
	mu   sync.Mutex
	cmds []lifecycle.Command
	done chan struct{}
	once sync.Once
}

func newFakeRun() *fakeRun { return &fakeRun{done: make(chan struct{})} }

func (f *fakeRun) Baseline() stats.Snapshot {
	return stats.Snapshot{Kind: stats.KindSwarm, Phase: stats.PhasePlan}
}
func (f *fakeRun) Snapshot() stats.Snapshot {
	return stats.Snapshot{Kind: stats.KindSwarm, Phase: stats.PhaseHold, Held: 7}
}
func (f *fakeRun) Final() stats.Snapshot {
	return stats.Snapshot{Kind: stats.KindSwarm, Phase: stats.PhaseDone, Held: 7}
}
func (f *fakeRun) Done() <-chan struct{} { return f.done }
func (f *fakeRun) Err() error            { return nil }
func (f *fakeRun) Describe() string      { return "plan: fake" }
func (f *fakeRun) Command(cmd lifecycle.Command) {
	f.mu.Lock()
	f.cmds = append(f.cmds, cmd)
	f.mu.Unlock()
	if cmd == lifecycle.Stop {
		f.once.Do(func() { close(f.done) })
	}
}
func (f *fakeRun) commands() []lifecycle.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]lifecycle.Command(nil), f.cmds...)
}

// testAgent serves an agent whose runs are fakes; started counts them.
type testAgent struct {
	srv     *httptest.Server
	mu      sync.Mutex
	started []*fakeRun
	opts    []loadclient.Options
}

func newTestAgent(t *testing.T, o Options) *testAgent {
	t.Helper()
	ta := &testAgent{}
	o.Token = "s3cret"
	if o.Env == nil {
		o.Env = func() loadclient.Env {
			return loadclient.Env{PortRange: [2]int{32768, 60999}, NofileHard: 20000, CPUs: 2}
		}
	}
	o.Start = func(opts loadclient.Options) (Run, error) {
		r := newFakeRun()
		ta.mu.Lock()
		ta.started = append(ta.started, r)
		ta.opts = append(ta.opts, opts)
		ta.mu.Unlock()
		return r, nil
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ta.srv = httptest.NewServer(a.Handler())
	t.Cleanup(ta.srv.Close)
	return ta
}

func (ta *testAgent) runs() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return len(ta.started)
}

func slice(target string) RunRequest {
	o := loadclient.DefaultOptions()
	o.Targets, o.Conns = []string{target}, 10
	return RunRequest{ID: "t", Options: o}
}

func TestAuthentication(t *testing.T) {
	ta := newTestAgent(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct{ name, token string }{{"missing", ""}, {"wrong", "s3cres"}, {"prefix", "s3cret2"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClient(ta.srv.URL, tc.token, nil)
			for _, call := range []func() error{
				func() error { _, err := c.Info(ctx); return err },
				func() error { _, err := c.Start(ctx, slice("127.0.0.1:9000"), false); return err },
				func() error { return c.Command(ctx, lifecycle.Stop) },
			} {
				var se *StatusError
				if err := call(); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
					t.Fatalf("got %v, want 401", err)
				}
			}
			if n := ta.runs(); n != 0 {
				t.Fatalf("%d runs started without the token", n)
			}
		})
	}
	// No Authorization header at all.
	resp, err := http.Post(ta.srv.URL+PathRuns, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" || ta.runs() != 0 {
		t.Fatalf("no header: %s, %d runs", resp.Status, ta.runs())
	}
}

func TestStartStopAndAllowTargets(t *testing.T) {
	ta := newTestAgent(t, Options{AllowTargets: []netip.Prefix{netip.MustParsePrefix("10.199.0.0/24")}})
	c := NewClient(ta.srv.URL, "s3cret", nil)
	ctx := context.Background()

	var se *StatusError
	for _, target := range []string{"127.0.0.1:9000", "10.199.1.1:9000", "[::1]:9000"} {
		if _, err := c.Start(ctx, slice(target), false); !errors.As(err, &se) || se.Code != http.StatusForbidden || !strings.Contains(err.Error(), "--allow-targets") {
			t.Fatalf("target %s: got %v, want 403 naming --allow-targets", target, err)
		}
	}
	if _, err := c.Start(ctx, slice("10.199.0.1:9000-9001"), true); err != nil || ta.runs() != 0 {
		t.Fatalf("dry run: %v, %d runs", err, ta.runs())
	}
	st, err := c.Start(ctx, slice("10.199.0.1:9000-9001"), false)
	if err != nil || st.State != StateRunning || ta.runs() != 1 {
		t.Fatalf("start: %+v, %v, %d runs", st, err, ta.runs())
	}
	if got := ta.opts[0].Targets; len(got) != 1 || got[0] != "10.199.0.1:9000-9001" {
		t.Fatalf("pinned targets %q", got)
	}
	if _, err := c.Start(ctx, slice("10.199.0.1:9000"), false); !errors.As(err, &se) || se.Code != http.StatusConflict {
		t.Fatalf("second start: %v, want 409", err)
	}
	if st, err = c.Stats(ctx); err != nil || st.Snapshot.Held != 7 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	if err := c.Command(ctx, "explode"); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("unknown command: %v", err)
	}
	if err := c.Command(ctx, lifecycle.Stop); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for st.State != StateDone && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		st, _ = c.Stats(ctx)
	}
	if st.State != StateDone || !strings.Contains(st.StopReason, "coordinator") {
		t.Fatalf("after stop: %+v", st)
	}
	in, err := c.Info(ctx)
	if err != nil || in.Run == nil || in.Run.ID != "t" || in.Environment.NofileHard != 20000 {
		t.Fatalf("info: %+v %v", in, err)
	}
	// The agent keeps running across runs.
	if _, err := c.Start(ctx, slice("10.199.0.1:9000"), false); err != nil || ta.runs() != 2 {
		t.Fatalf("next run: %v", err)
	}
}

func TestDefaultAllowsLoopbackOnly(t *testing.T) {
	ta := newTestAgent(t, Options{})
	c := NewClient(ta.srv.URL, "s3cret", nil)
	if _, err := c.Start(context.Background(), slice("192.0.2.1:9000"), true); err == nil {
		t.Fatal("a non-loopback target was accepted by default")
	}
	if _, err := c.Start(context.Background(), slice("127.0.0.1:9000"), true); err != nil {
		t.Fatal(err)
	}
}

func TestGraceStopsASilentCoordinatorsRun(t *testing.T) {
	ta := newTestAgent(t, Options{Grace: time.Second, AllowTargets: DefaultAllowTargets})
	c := NewClient(ta.srv.URL, "s3cret", nil)
	if _, err := c.Start(context.Background(), slice("127.0.0.1:9000"), false); err != nil {
		t.Fatal(err)
	}
	run := ta.started[0]
	// Polling is the heartbeat: the run goes on while the coordinator asks.
	for range 15 { // 1.5s of polls, longer than the grace
		time.Sleep(100 * time.Millisecond)
		if _, err := c.Stats(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if cmds := run.commands(); len(cmds) != 0 {
		t.Fatalf("stopped while the coordinator polled: %v", cmds)
	}
	start := time.Now()
	select {
	case <-run.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a silent coordinator's run was not stopped")
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("stopped after %v, before the grace", d)
	}
	time.Sleep(50 * time.Millisecond)
	st, _ := c.Stats(context.Background())
	if !strings.Contains(st.StopReason, "silent") {
		t.Fatalf("stop reason %q", st.StopReason)
	}
}

func TestToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "agent.token")
	tok, created, err := LoadOrCreateToken(path)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("create: %q %v %v", tok, created, err)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	again, created, err := LoadOrCreateToken(path)
	if err != nil || created || again != tok {
		t.Fatalf("reload: %q %v %v", again, created, err)
	}
	if got, err := ReadToken(path); err != nil || got != tok {
		t.Fatalf("ReadToken: %q %v", got, err)
	}
	if _, err := ReadToken(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "copy the agents' token file from an agent") {
		t.Fatalf("missing token file: %v", err)
	}
	if _, err := New(Options{Token: " ", Start: func(loadclient.Options) (Run, error) { return nil, nil }}); err == nil {
		t.Fatal("an empty token was accepted")
	}
}

func TestSplit(t *testing.T) {
	o := loadclient.DefaultOptions()
	o.Targets, o.Conns, o.Rate, o.MsgRate, o.UIDBase = []string{"10.199.0.1:9000-9003"}, 1001, 1000, 100, 5
	env := loadclient.Env{PortRange: [2]int{32768, 60999}, NofileHard: 20000, CPUs: 2}
	infos := []Info{{Hostname: "a", Environment: env}, {Hostname: "b", Environment: env, SourceIPs: []netip.Addr{netip.MustParseAddr("10.199.2.2")}}}
	as, err := Split(o, infos, []string{"a:7070", "b:7070"})
	if err != nil {
		t.Fatal(err)
	}
	if as[0].Options.Conns != 501 || as[1].Options.Conns != 500 || as[0].Options.UIDBase != 5 || as[1].Options.UIDBase != 506 {
		t.Fatalf("slices %+v / %+v", as[0].Options, as[1].Options)
	}
	if as[1].Options.SourceIPs[0] != netip.MustParseAddr("10.199.2.2") || as[0].Options.Hold != 0 || math.Abs(as[1].Options.Rate-1000*500.0/1001) > 1e-9 {
		t.Fatalf("slice b: %+v", as[1].Options)
	}
	p := Combined(as)
	if p.Conns != 1001 || p.Pairs != 8 || !strings.Contains(p.Describe(), "agent b:7070 (b): uids 506-1005") {
		t.Fatalf("combined: %+v\n%s", p, p.Describe())
	}

	// One host too small: refused, naming the host and the fix; the other is fine.
	small := env
	small.PortRange = [2]int{40000, 40009}
	infos[1].Environment = small
	infos[1].SourceIPs = nil
	if _, err := Split(o, infos, []string{"a:7070", "b:7070"}); err == nil || !strings.Contains(err.Error(), "agent b:7070 (b)") || strings.Contains(err.Error(), "agent a:7070") {
		t.Fatalf("got %v", err)
	}
	infos[1].Environment = env
	infos[1].Environment.MemAvailable = 1 << 20
	if _, err := Split(o, infos, []string{"a:7070", "b:7070"}); err == nil || !strings.Contains(err.Error(), "kernel memory") {
		t.Fatalf("memory: %v", err)
	}
	o.SourceIPs = []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	if _, err := Split(o, infos, []string{"a:7070", "b:7070"}); err == nil {
		t.Fatal("--source-ips with --agents was accepted")
	}
}

// TestTokenFileChecks: a token file others may read, or a short token, is
// refused by the agent and the coordinator alike, with the fix, and left
// as it is.
func TestTokenFileChecks(t *testing.T) {
	long := strings.Repeat("ab", 32)
	const user = 65534 // "nobody": owns the file when the test runs as root
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		owner         int    // -1: whoever runs the test; 0 root, user: needs root to chown
		want          string // "" accepted
	}{
		{"one character, 0666", "x\n", 0o666, -1, "chmod 600"},
		{"good token, 0644", long, 0o644, -1, "(mode 0644): it holds a secret; make it private with chmod 600"},
		{"good token, 0640, the user's", long, 0o640, user, "(mode 0640)"},
		{"good token, 0660, root's", long, 0o660, 0, "(mode 0660)"},
		{"one character, 0600", "x\n", 0o600, -1, "holds a 1-character token, fewer than 32: put a long random secret in it (openssl rand -hex 32 >"},
		{"empty, 0600", "\n", 0o600, -1, "holds a 0-character token"},
		{"good token, 0600", long + "\n", 0o600, -1, ""},
		{"good token, 0400", long, 0o400, -1, ""},
		{"good token, 0440, root's (a Kubernetes Secret with fsGroup)", long, 0o440, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tc.want, "mode") {
				t.Skip("permission bits are not checked on Windows")
			}
			if tc.owner >= 0 && os.Geteuid() != 0 {
				t.Skip("needs root to give the file an owner")
			}
			path := filepath.Join(t.TempDir(), "agent.token")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.owner >= 0 {
				if err := os.Chown(path, tc.owner, -1); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			tok, created, err := LoadOrCreateToken(path)
			tok2, err2 := ReadToken(path)
			for _, e := range []error{err, err2} {
				switch {
				case tc.want == "" && e != nil:
					t.Errorf("refused: %v", e)
				case tc.want != "" && (e == nil || !strings.Contains(e.Error(), tc.want) || !strings.Contains(e.Error(), path)):
					t.Errorf("got %v, want an error naming %s with %q", e, path, tc.want)
				}
			}
			if tc.want == "" && (tok != long || tok2 != long || created) {
				t.Errorf("read %q / %q (created %v), want the file's token", tok, tok2, created)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Errorf("the token file was rewritten: %q", b)
			}
		})
	}
}

// TestDryRunChecksMemory: an agent asked directly (no coordinator's Split
// before it) refuses a slice its memory cannot hold, dry run or not, with
// the coordinator's message.
func TestDryRunChecksMemory(t *testing.T) {
	ta := newTestAgent(t, Options{Env: func() loadclient.Env {
		return loadclient.Env{Hostname: "small", MemAvailable: 64 << 30, PortRange: [2]int{32768, 60999}, NofileHard: 20000, CPUs: 2}
	}})
	c := NewClient(ta.srv.URL, "s3cret", nil)
	req := slice("127.0.0.1:9000-13095")
	req.Options.Conns = 100_000_000
	for _, dry := range []bool{true, false} {
		var se *StatusError
		_, err := c.Start(context.Background(), req, dry)
		if !errors.As(err, &se) || se.Code != http.StatusUnprocessableEntity ||
			!strings.Contains(se.Msg, "100000000 connections need ≈ 429630 MiB of kernel memory (4 KiB each + 10%); the host has 65536 MiB available") {
			t.Fatalf("dry run %v: %v, want 422 naming the memory", dry, err)
		}
	}
	if ta.runs() != 0 {
		t.Fatalf("%d runs started", ta.runs())
	}
	req.Options.Conns = 1000 // fits
	if _, err := c.Start(context.Background(), req, true); err != nil {
		t.Fatal(err)
	}
}

// TestLookupErrorHidesDNSServer: a target the agent cannot resolve is
// refused with the name, never with the address of the agent's resolver.
func TestLookupErrorHidesDNSServer(t *testing.T) {
	const name = "imtool-test-no-such-host.invalid"
	var server string
	if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", name); err != nil {
		if de, ok := errors.AsType[*net.DNSError](err); ok {
			server = de.Server
		}
	}
	ta := newTestAgent(t, Options{})
	c := NewClient(ta.srv.URL, "s3cret", nil)
	var se *StatusError
	_, err := c.Start(context.Background(), slice(name+":9000"), true)
	if !errors.As(err, &se) || se.Code != http.StatusUnprocessableEntity || !strings.Contains(se.Msg, "cannot resolve "+name+": lookup "+name+": ") {
		t.Fatalf("got %v, want 422: cannot resolve %s: lookup %s: …", err, name, name)
	}
	if strings.Contains(se.Msg, " on ") || (server != "" && strings.Contains(se.Msg, server)) {
		t.Fatalf("the error reveals the agent's DNS server %q: %s", server, se.Msg)
	}
	if server == "" {
		t.Logf("this host's resolver names no server in its errors; checked the format only")
	}
}

// Every field of the swarm's options reaches an agent as the coordinator
// sent it: Client.Start's encoding, read by the agent's own decoder. The
// options are filled by reflection, so a field added later is checked too;
// only Lookup (a func) stays behind, by design.
func TestRunRequestCarriesEveryOption(t *testing.T) {
	var o loadclient.Options
	if skipped := testfill.Fill(&o); !slices.Equal(skipped, []string{"Options.Lookup"}) {
		t.Fatalf("fields that cannot travel to an agent: %v (only Lookup may stay behind: give the new one a JSON form)", skipped)
	}
	o.Lookup = nil
	got := make(chan RunRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decodeRunRequest(r.Body)
		if err != nil {
			t.Error(err)
		}
		got <- req
		writeJSON(w, http.StatusCreated, Status{ID: req.ID})
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := NewClient(srv.URL, "tok", nil).Start(ctx, RunRequest{ID: "r", Options: o}, false); err != nil {
		t.Fatal(err)
	}
	if req := <-got; !reflect.DeepEqual(req.Options, o) {
		t.Fatalf("the agent reads\n%+v\nthe coordinator sent\n%+v", req.Options, o)
	}
}
