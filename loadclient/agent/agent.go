// Package agent makes many client hosts one swarm. An agent (imtool agent)
// runs on each client host and serves a small authenticated HTTPS/JSON
// control API (docs/AGENTS.md): a coordinator (imtool swarm --agents) asks
// for its host's facts, hands it a slice of the plan, polls its snapshot
// every half second and tells it to stop. The agent runs the slice with the
// same engine and shards as a local swarm (the Start hook; internal/runner
// provides it), refuses targets outside what its operator allowed, and
// stops its load by itself when the coordinator has been silent for longer
// than the grace period: it never keeps hammering a server on its own.
//
// The coordinator's side is Client (one agent) and Split (the plan across
// agents, with each host's feasibility checked before anything starts).
//
// TLS keeps the token and the run requests from travelling in clear: an
// agent without a certificate of its own writes a self-signed one on first
// start (LoadOrCreateCert, beside its token: CertFiles), and the
// coordinator pins it by its fingerprint, so nobody in between can read the
// token or pose as the agent. Plain HTTP is only for --insecure-http.
package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/internal/stats"
	"github.com/imtool/imtool/loadclient"
)

// Defaults of Options.
const (
	DefaultListen = "0.0.0.0:7070"
	DefaultGrace  = 10 * time.Second
	maxBody       = 1 << 20
)

// DefaultAllowTargets are the targets an agent accepts when its operator
// named none: loopback only, so an agent started without thought cannot be
// pointed at anybody else's server.
var DefaultAllowTargets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Run is a slice running on this host, as Options.Start returns it.
type Run interface {
	Baseline() stats.Snapshot // before anything was dialed
	Snapshot() stats.Snapshot
	Final() stats.Snapshot // once Done: the counters at the end, the connections as the hold ended
	Command(lifecycle.Command)
	Done() <-chan struct{}
	Err() error
	Describe() string // the plan in words
}

// Options configure an agent.
type Options struct {
	// Token is the shared secret every request must carry (required).
	Token string
	// AllowTargets are the networks a plan may target (default
	// DefaultAllowTargets: loopback only).
	AllowTargets []netip.Prefix
	// Grace is how long the coordinator may be silent before the agent
	// stops its run (default DefaultGrace).
	Grace time.Duration
	// SourceIPs are the local addresses this host's slices dial from; empty:
	// the kernel chooses.
	SourceIPs []netip.Addr
	// Start runs a slice (required): internal/runner.StartSlice.
	Start func(o loadclient.Options) (Run, error)
	// Env describes the host, for plans and the run record (default
	// loadclient.ReadEnv).
	Env     func() loadclient.Env
	Version string
	// TLS serves the control API over TLS (ServerTLS); nil: plain HTTP,
	// only for imtool agent --insecure-http.
	TLS *tls.Config
	// Logf receives one line per event (a run started, stopped, refused);
	// never per connection. Default: nothing.
	Logf func(format string, args ...any)
}

// Agent serves the control API and runs one slice at a time.
type Agent struct {
	o      Options
	digest [sha256.Size]byte

	mu          sync.Mutex
	run         Run
	status      Status
	lastContact time.Time
}

// New checks o and returns an agent.
func New(o Options) (*Agent, error) {
	if strings.TrimSpace(o.Token) == "" {
		return nil, errors.New("agent: an empty token would let anybody drive this host: give a token file with a secret in it")
	}
	if o.Start == nil {
		return nil, errors.New("agent: Options.Start is required")
	}
	if len(o.AllowTargets) == 0 {
		o.AllowTargets = DefaultAllowTargets
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Env == nil {
		o.Env = loadclient.ReadEnv
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return &Agent{o: o, digest: sha256.Sum256([]byte(o.Token))}, nil
}

// Handler is the control API.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathInfo, a.info)
	mux.HandleFunc("POST "+PathRuns, a.start)
	mux.HandleFunc("GET "+PathCurrent, a.current)
	mux.HandleFunc("GET "+PathStats, a.current)
	mux.HandleFunc("POST "+PathCurrent+"/{cmd}", a.command)
	return a.authenticated(mux)
}

// authenticated answers 401, and does nothing else, unless the request
// carries the token. The comparison takes the same time whatever the
// token: both sides are hashed first, then compared in constant time.
func (a *Agent) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		d := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(d[:], a.digest[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="imtool agent"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send \"Authorization: Bearer TOKEN\" with the token of this agent's --token-file")
			return
		}
		a.mu.Lock()
		a.lastContact = time.Now()
		a.mu.Unlock()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

func (a *Agent) info(w http.ResponseWriter, _ *http.Request) {
	in := Info{
		Version: a.o.Version, Environment: a.o.Env(),
		SourceIPs: a.o.SourceIPs, Addresses: hostAddresses(), AllowTargets: a.o.AllowTargets,
		GraceS: a.o.Grace.Seconds(),
	}
	in.Hostname = in.Environment.Hostname
	if st, ok := a.snapshotStatus(); ok {
		in.Run = &st
	}
	writeJSON(w, http.StatusOK, in)
}

// start checks a slice and, unless this is a dry run, starts it.
func (a *Agent) start(w http.ResponseWriter, r *http.Request) {
	req, err := decodeRunRequest(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("cannot read the run request: %v (coordinator and agent must be the same imtool version; this agent is %s)", err, a.o.Version))
		return
	}
	o, err := a.check(req.Options)
	if err != nil {
		var pe *loadclient.PlanError
		code := http.StatusForbidden
		if errors.As(err, &pe) {
			code = http.StatusUnprocessableEntity
		}
		a.o.Logf("refused run %q: %v", req.ID, err)
		writeError(w, code, err.Error())
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.run != nil && a.status.State == StateRunning {
		writeError(w, http.StatusConflict, fmt.Sprintf("run %q is still going (started %s): stop it first with POST %s/%s", a.status.ID, a.status.Started.Format(time.RFC3339), PathCurrent, lifecycle.Stop))
		return
	}
	if r.URL.Query().Get("dry_run") != "" {
		writeJSON(w, http.StatusOK, Status{ID: req.ID})
		return
	}
	run, err := a.o.Start(o)
	if err != nil {
		code := http.StatusInternalServerError
		var pe *loadclient.PlanError
		if errors.As(err, &pe) {
			code = http.StatusUnprocessableEntity
		}
		a.o.Logf("cannot start run %q: %v", req.ID, err)
		writeError(w, code, fmt.Sprintf("cannot start the run: %v", err))
		return
	}
	a.run = run
	a.status = Status{ID: req.ID, State: StateRunning, Started: time.Now(), Plan: run.Describe(), Snapshot: run.Baseline()}
	a.lastContact = time.Now()
	a.o.Logf("run %q started from %s: %d connections to %s", req.ID, r.RemoteAddr, o.Conns, strings.Join(o.Targets, " "))
	go a.watch(run)
	writeJSON(w, http.StatusCreated, a.status)
}

// decodeRunRequest reads a RunRequest; a field this agent does not know is
// an error (coordinator and agent are different versions).
func decodeRunRequest(r io.Reader) (RunRequest, error) {
	var req RunRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	return req, err
}

// check applies this host's source IPs to o, pins its targets to the
// addresses they resolve to here, and refuses a target outside
// AllowTargets or a plan that cannot work on this host: its ports, its
// file descriptors and its memory (CheckMemory, as the coordinator does).
func (a *Agent) check(o loadclient.Options) (loadclient.Options, error) {
	o.SourceIPs = a.o.SourceIPs
	o.Lookup = lookupQuietly
	o.Shard = loadclient.Shard{}
	plan, err := loadclient.NewPlan(o, a.o.Env())
	o.Lookup = nil // the targets are pinned to addresses below
	if err != nil {
		return o, err
	}
	if err := CheckMemory(o.Conns, a.o.Env().MemAvailable); err != nil {
		return o, &loadclient.PlanError{Msg: err.Error()}
	}
	o.Targets = o.Targets[:0:0]
	for _, t := range plan.Targets {
		if !a.allowed(t.Addr) {
			return o, fmt.Errorf("target %s (%s) is outside what this agent may load (--allow-targets %s): restart the agent with --allow-targets covering it", t.Host, t.Addr, formatPrefixes(a.o.AllowTargets))
		}
		o.Targets = append(o.Targets, pinned(t))
	}
	return o, nil
}

// lookupQuietly resolves a target with the host's resolver. A failure
// travels to the coordinator without the address of this host's DNS server,
// which is none of its business: "lookup NAME: no such host".
func lookupQuietly(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if de, ok := errors.AsType[*net.DNSError](err); ok && de.Server != "" {
		quiet := *de
		quiet.Server = ""
		err = &quiet
	}
	return addrs, err
}

func (a *Agent) allowed(addr netip.Addr) bool {
	for _, p := range a.o.AllowTargets {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// pinned writes a resolved target back as ADDR:PORTS, so the run dials the
// address that was checked, whatever DNS answers later.
func pinned(t loadclient.Target) string {
	host := t.Addr.String()
	if t.Addr.Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + portspec.String(t.Ports)
}

// watch stops run when the coordinator has been silent for longer than the
// grace, and records how it ended.
func (a *Agent) watch(run Run) {
	tick := time.NewTicker(max(min(a.o.Grace/4, 250*time.Millisecond), time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-run.Done():
			a.mu.Lock()
			a.status.State, a.status.Ended = StateDone, time.Now()
			a.status.Snapshot = run.Final()
			if err := run.Err(); err != nil {
				a.status.Error = err.Error()
			}
			id, why := a.status.ID, a.status.StopReason
			a.mu.Unlock()
			a.o.Logf("run %q done (%s)", id, orText(why, "its hold ended"))
			return
		case <-tick.C:
			a.mu.Lock()
			silent := time.Since(a.lastContact)
			stop := silent > a.o.Grace && a.status.StopReason == ""
			if stop {
				a.status.StopReason = fmt.Sprintf("the coordinator was silent for %s (--grace %s): stopped by the agent", silent.Round(100*time.Millisecond), a.o.Grace)
				a.o.Logf("run %q: %s", a.status.ID, a.status.StopReason)
			}
			a.mu.Unlock()
			if stop {
				run.Command(lifecycle.Stop)
			}
		}
	}
}

func (a *Agent) current(w http.ResponseWriter, _ *http.Request) {
	st, ok := a.snapshotStatus()
	if !ok {
		writeError(w, http.StatusNotFound, "no run yet: start one with POST "+PathRuns)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// snapshotStatus is the current run's status with a fresh snapshot.
func (a *Agent) snapshotStatus() (Status, bool) {
	a.mu.Lock()
	run, st := a.run, a.status
	a.mu.Unlock()
	if run == nil {
		return st, false
	}
	if st.State == StateRunning {
		st.Snapshot = run.Snapshot()
	}
	return st, true
}

func (a *Agent) command(w http.ResponseWriter, r *http.Request) {
	cmd, err := lifecycle.ParseCommand(r.PathValue("cmd"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	a.mu.Lock()
	run := a.run
	if run != nil && cmd == lifecycle.Stop && a.status.StopReason == "" && a.status.State == StateRunning {
		a.status.StopReason = "stopped by the coordinator (" + r.RemoteAddr + ")"
	}
	a.mu.Unlock()
	if run == nil {
		writeError(w, http.StatusNotFound, "no run to "+string(cmd))
		return
	}
	run.Command(cmd)
	st, _ := a.snapshotStatus()
	writeJSON(w, http.StatusAccepted, st)
}

// Serve answers the control API on ln until ctx ends; then it stops the
// current run and waits for its connections to close.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second, TLSConfig: a.o.TLS,
		ErrorLog: log.New(logfWriter(a.o.Logf), "", 0)} // failed TLS handshakes, one line each
	errc := make(chan error, 1)
	go func() {
		if a.o.TLS != nil {
			errc <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	a.mu.Lock()
	run := a.run
	if run != nil && a.status.State == StateRunning && a.status.StopReason == "" {
		a.status.StopReason = "the agent is shutting down"
	}
	a.mu.Unlock()
	if run != nil {
		run.Command(lifecycle.Stop)
		<-run.Done()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// logfWriter writes each line to a Logf.
type logfWriter func(format string, args ...any)

func (w logfWriter) Write(p []byte) (int, error) {
	w("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// hostAddresses lists the host's unicast addresses, loopback excluded.
func hostAddresses() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// ParseAllowTargets reads --allow-targets: comma-separated CIDRs or
// addresses; "any" allows every IPv4 and IPv6 address.
func ParseAllowTargets(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case part == "any":
			out = append(out, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
		case strings.Contains(part, "/"):
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("--allow-targets %q: %q is not a CIDR (10.0.0.0/8): %w", s, part, err)
			}
			out = append(out, p.Masked())
		default:
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("--allow-targets %q: %q is neither a CIDR nor an address", s, part)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

func formatPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func orText(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
