package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imtool/imtool/internal/scenario/scenariotest"
	"github.com/imtool/imtool/internal/stats"
	rt "github.com/imtool/imtool/refserver/refservertest"
)

// The shipped scenario files (examples/protocols/) against the real servers
// they are written for, through the CLI: each server's own count of its
// connections, read during the hold, is the observer of the swarm's held.

// -scenario-conns runs each example with that many connections (a bigger
// run, alone: the closing notes' 10,000), with longer ping intervals and
// holds to match.
var scenarioConns = flag.Int("scenario-conns", 0, "connections per example in TestScenario* (default: a few hundred)")

// conns is n, or -scenario-conns; big tells a run of more than 1,000.
func conns(n int) (int, bool) {
	if *scenarioConns > 0 {
		return *scenarioConns, *scenarioConns > 1000
	}
	return n, false
}

// scenarioRun is one swarm run of a scenario file and what the server
// counted during its hold.
type scenarioRun struct {
	sum    stats.Summary
	code   int
	stderr string
	server int // the server's count, read once the swarm was holding
}

// runScenario runs `imtool swarm --scenario file` against target with n
// connections and args, reading count during the hold until it equals n
// (or 15 s pass).
func runScenario(t *testing.T, file, target string, n int, count func() (int, error), args ...string) scenarioRun {
	t.Helper()
	return runScenarioArgs(t, target, n, count, append([]string{"--scenario", file}, args...)...)
}

// runScenarioArgs is runScenario with the protocol in args.
func runScenarioArgs(t *testing.T, target string, n int, count func() (int, error), args ...string) scenarioRun {
	t.Helper()
	bin := rt.Binary(t)
	full := append([]string{"swarm", "--target", target, "--conns", strconv.Itoa(n),
		"--stats", "", "--tui=false", "--json"}, args...)
	cmd := exec.Command(bin, full...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := scenarioRun{server: -1}
	if count != nil {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if strings.Contains(stderr.String(), " hold ") {
				break
			}
		}
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if c, err := count(); err == nil {
				r.server = c
				if c == n {
					break
				}
			}
		}
	}
	doc, _ := io.ReadAll(stdout)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	r.stderr = stderr.String()
	var rec stats.Record
	if err := json.Unmarshal(doc, &rec); err != nil {
		t.Fatalf("swarm --json: %v (exit %d)\n%s\nstderr:\n%s", err, r.code, doc, r.stderr)
	}
	r.sum = rec.Summary
	return r
}

// example is the path of a shipped scenario file.
func example(name string) string {
	return filepath.Join("..", "..", "examples", "protocols", name+".yaml")
}

// held checks that every connection was held, none dropped and no error
// counted, and that the server counted them all during the hold.
func (r scenarioRun) held(t *testing.T, n int) {
	t.Helper()
	s := r.sum
	if r.code != 0 || s.Held != int64(n) || s.Dropped != 0 || len(s.Errors) != 0 {
		t.Fatalf("exit %d: held %d of %d, dropped %d, errors %v\nstderr:\n%s", r.code, s.Held, n, s.Dropped, s.Errors, r.stderr)
	}
	if r.server != n {
		t.Fatalf("the server counted %d connections during the hold; the swarm held %d", r.server, n)
	}
	if s.Expected > 0 && s.Expected != s.Delivered || s.Duplicated != 0 {
		t.Errorf("%d deliveries expected, %d arrived, %d twice", s.Expected, s.Delivered, s.Duplicated)
	}
	lat := func(k string) string {
		l := s.HoldLatency[k]
		return fmt.Sprintf("%s p50 %.3fms p99 %.3fms (%d)", k, l.P50*1e3, l.P99*1e3, l.Count)
	}
	t.Logf("held %d, the server counted %d; ramp %.2fs; client %.0f B/conn; sent %d, acked %d, delivered %d of %d expected; pings %d, pongs %d, server pings answered %d; hold: %s, %s, %s",
		s.Held, r.server, s.RampSeconds, s.ClientBytesPer, s.Sent, s.Acked, s.Delivered, s.Expected, s.Pings, s.Pongs, s.ServerPings,
		lat("heartbeat"), lat("ack"), lat("deliver"))
}

func TestScenarioGoim(t *testing.T) {
	n, big := conns(300)
	hb, hold := 500*time.Millisecond, "4s"
	if big {
		hb, hold = 5*time.Second, "20s"
	}
	g := scenariotest.StartGoim(t, scenariotest.GoimOptions{HeartbeatTimeout: 4 * hb})
	r := runScenario(t, example("goim"), g.Addr, n, func() (int, error) { return g.Authed(), nil },
		"--hold", hold, "--heartbeat", hb.String(), "--msg-rate", "100")
	r.held(t, n) // a connection without heartbeats would have been closed after 4 of their intervals
	s := r.sum
	if s.Sent == 0 || s.Acked != s.Sent || s.Acked != g.Messages() {
		t.Errorf("sent %d, acked %d; the gateway received %d", s.Sent, s.Acked, g.Messages())
	}
	if s.Delivered != g.Delivered() || s.Delivered != s.Sent {
		t.Errorf("delivered %d of %d sent; the gateway delivered %d", s.Delivered, s.Sent, g.Delivered())
	}
	if s.Pongs == 0 || s.Pongs > g.Heartbeats() {
		t.Errorf("pongs %d; the gateway answered %d heartbeats", s.Pongs, g.Heartbeats())
	}
	for _, l := range []string{"heartbeat", "ack", "deliver", "login"} {
		if s.Latency[l].Count == 0 {
			t.Errorf("no %s latency", l)
		}
	}
}

func TestScenarioSocketIO(t *testing.T) {
	n, big := conns(200)
	ping, hold := 500*time.Millisecond, "3s"
	if big {
		ping, hold = 3*time.Second, "18s"
	}
	srv := scenariotest.StartSocketIO(t, scenariotest.SocketIOOptions{PingInterval: ping, PingTimeout: 2 * ping})
	target := strings.TrimPrefix(srv.URL, "ws://")
	target = target[:strings.IndexByte(target, '/')]
	r := runScenario(t, example("socketio"), target, n, srv.Sockets, "--hold", hold, "--msg-rate", "100")
	r.held(t, n) // 6 ping intervals: the pings were answered
	s := r.sum
	if s.ServerPings < int64(n) {
		t.Errorf("answered %d server pings for %d connections over 6 intervals", s.ServerPings, n)
	}
	if s.Sent == 0 || s.Acked != s.Sent || s.Delivered != s.Sent {
		t.Errorf("sent %d, acked %d, delivered %d", s.Sent, s.Acked, s.Delivered)
	}
	if s.Latency["ack"].Count != s.Acked || s.Latency["deliver"].Count != s.Delivered {
		t.Errorf("ack latencies %d of %d, deliver %d of %d", s.Latency["ack"].Count, s.Acked, s.Latency["deliver"].Count, s.Delivered)
	}

	// A wrong token is the scenario's own error class, with its fix.
	src, err := os.ReadFile(example("socketio"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(string(src), `"token":"secret"`, `"token":"wrong"`, 1)), 0o644)
	r = runScenario(t, bad, target, 20, nil, "--hold", "1s")
	if r.code != 1 || r.sum.Errors["auth_refused"] != 20 || r.sum.Held != 0 {
		t.Fatalf("a wrong token: exit %d, errors %v, held %d\n%s", r.code, r.sum.Errors, r.sum.Held, r.stderr)
	}
	if !strings.Contains(r.sum.Shortfall, "put the token it expects") {
		t.Errorf("the shortfall does not give the scenario's fix: %s", r.sum.Shortfall)
	}
}

func TestScenarioNATS(t *testing.T) {
	n, big := conns(300)
	ping, hold := time.Second, "5s"
	if big {
		ping, hold = 3*time.Second, "15s"
	}
	srv := scenariotest.StartNATS(t, scenariotest.NATSOptions{PingInterval: ping, PingMax: 2})
	r := runScenario(t, example("nats"), srv.Addr, n, srv.Connections,
		"--hold", hold, "--heartbeat", "2s", "--msg-rate", "100")
	r.held(t, n) // 5 server ping intervals with ping_max 2: answered, or closed as stale
	s := r.sum
	in, out, err := srv.Msgs()
	if err != nil {
		t.Fatal(err)
	}
	if s.Sent == 0 || in != s.Sent || out != s.Delivered || s.Delivered != s.Sent {
		t.Errorf("sent %d, delivered %d; the server received %d and delivered %d", s.Sent, s.Delivered, in, out)
	}
	if s.ServerPings < int64(n) || s.Pongs == 0 {
		t.Errorf("answered %d server pings, %d pongs to ours", s.ServerPings, s.Pongs)
	}
	if s.Latency["deliver"].Count != s.Delivered {
		t.Errorf("deliver latencies %d of %d", s.Latency["deliver"].Count, s.Delivered)
	}
}

// A step whose expect never matches ends the connection with the step named
// and the bytes the server sent.
func TestScenarioStepNeverMatches(t *testing.T) {
	srv := scenariotest.StartNATS(t, scenariotest.NATSOptions{})
	src, err := os.ReadFile(example("nats"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(string(src), `expect: {equals: "PONG"}`, `expect: {equals: "PANG"}`+"\n    timeout: 1s", 1)), 0o644)
	dir := t.TempDir()
	r := runScenario(t, bad, srv.Addr, 10, nil, "--hold", "1s", "--out", dir)
	if r.code != 1 || r.sum.Errors[stats.ErrStepTimeout] != 10 {
		t.Fatalf("exit %d, errors %v\n%s", r.code, r.sum.Errors, r.stderr)
	}
	if !strings.Contains(r.sum.Shortfall, "scenario-check") {
		t.Errorf("the shortfall does not give the fix: %s", r.sum.Shortfall)
	}
	rec, _ := readRecord(t, dir)
	ex := rec.Series[len(rec.Series)-1].Swarm.ErrorExample[stats.ErrStepTimeout]
	line := 1 + strings.Count(string(src[:strings.Index(string(src), `  - send: "CONNECT`)]), "\n") // step 2's
	for _, want := range []string{fmt.Sprintf(`step 2 (line %d): expect equals "PANG"`, line), "within 1s", `last bytes received: "PONG"`} {
		if !strings.Contains(ex, want) {
			t.Errorf("the error's example does not say %s: %s", want, ex)
		}
	}
}

func TestScenarioCentrifugo(t *testing.T) {
	n, big := conns(200)
	ping, pong, hold := time.Second, 500*time.Millisecond, "4s"
	if big {
		ping, pong, hold = 4*time.Second, 2*time.Second, "16s"
	}
	srv := scenariotest.StartCentrifugo(t, scenariotest.CentrifugoOptions{PingInterval: ping, PongTimeout: pong})
	target := strings.TrimPrefix(srv.WSURL, "ws://")
	target = target[:strings.IndexByte(target, '/')]
	src, err := os.ReadFile(example("centrifugo"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "centrifugo.yaml")
	os.WriteFile(file, []byte(strings.Replace(string(src), "secret: imtool-scenariotest-secret", "secret: "+srv.Secret, 1)), 0o644)
	r := runScenario(t, file, target, n, srv.Clients, "--hold", hold, "--msg-rate", "100")
	r.held(t, n) // 4 ping intervals with a 500 ms pong timeout: answered
	s := r.sum
	if s.ServerPings < int64(n) {
		t.Errorf("answered %d server pings for %d connections", s.ServerPings, n)
	}
	if s.Sent == 0 || s.Acked != s.Sent || s.Delivered != s.Sent {
		t.Errorf("sent %d, acked %d, delivered %d", s.Sent, s.Acked, s.Delivered)
	}
	if s.Latency["ack"].Count != s.Acked || s.Latency["deliver"].Count != s.Delivered || s.Latency["login"].Count != int64(n) {
		t.Errorf("latencies: ack %d of %d, deliver %d of %d, login %d", s.Latency["ack"].Count, s.Acked, s.Latency["deliver"].Count, s.Delivered, s.Latency["login"].Count)
	}

	// A token signed with another key: Centrifugo closes with 3500, the
	// scenario's auth_refused with its fix.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(string(src), "secret: imtool-scenariotest-secret", "secret: wrong", 1)), 0o644)
	r = runScenario(t, bad, target, 20, nil, "--hold", "1s")
	if r.code != 1 || r.sum.Errors["auth_refused"] != 20 || r.sum.Held != 0 {
		t.Fatalf("a bad token: exit %d, errors %v, held %d\n%s", r.code, r.sum.Errors, r.sum.Held, r.stderr)
	}
	if !strings.Contains(r.sum.Shortfall, "hmac_secret_key") {
		t.Errorf("the shortfall does not give the scenario's fix: %s", r.sum.Shortfall)
	}
}

// waitListening waits (20 s at most) until addr accepts a TCP connection.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// statsOf reads a process's /stats.
func statsOf(addr string) (stats.Snapshot, error) {
	var s stats.Snapshot
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// The imtool protocol written as a scenario holds what the built-in one
// holds against imtool server, with the same counts, and every message is
// delivered: the gateway's own sessions and deliveries are the observer.
func TestScenarioIMTool(t *testing.T) {
	bin := rt.Binary(t)
	base := freeBase(t, 1)
	gwStats := fmt.Sprintf("127.0.0.1:%d", freeBase(t, 1)+1)
	startProc(t, bin, "server", "--listen", "127.0.0.1", "--ports", fmt.Sprintf("%d-%d", base, base), "--stats", gwStats)
	sessions := func() (int, error) {
		s, err := statsOf(gwStats)
		return int(s.Sessions), err
	}
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", base))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := sessions(); err == nil {
			break
		}
	}
	n, big := conns(500)
	target := fmt.Sprintf("127.0.0.1:%d", base)
	args := []string{"--hold", "3s", "--heartbeat", "500ms", "--msg-rate", "200"}
	if big {
		args = []string{"--hold", "10s", "--heartbeat", "5s", "--msg-rate", "200"}
	}
	before, _ := statsOf(gwStats)
	r := runScenario(t, example("imtool"), target, n, sessions, args...)
	r.held(t, n)
	after, _ := statsOf(gwStats)
	s := r.sum
	if s.Sent == 0 || s.Acked != s.Sent || s.Delivered != s.Sent {
		t.Errorf("scenario: sent %d, acked %d, delivered %d", s.Sent, s.Acked, s.Delivered)
	}
	// Every frame the gateway sent was recognised: LOGIN_OKs, ACKs,
	// DELIVERs and PONGs, less the PONGs of PINGs still unanswered when
	// the swarm closed.
	gwOut := after.FramesOut - before.FramesOut
	if extra := gwOut - (int64(n) + s.Acked + s.Delivered + s.Pongs); extra < 0 || extra > s.Pings-s.Pongs {
		t.Errorf("the gateway sent %d frames; the scenario recognised %d logins, %d acks, %d deliveries, %d pongs (%d pings)", gwOut, n, s.Acked, s.Delivered, s.Pongs, s.Pings)
	}
	if s.Pongs == 0 || s.Latency["heartbeat"].Count != s.Pongs || s.Latency["ack"].Count != s.Acked {
		t.Errorf("scenario: %d pongs, %d heartbeat latencies; %d acks, %d ack latencies", s.Pongs, s.Latency["heartbeat"].Count, s.Acked, s.Latency["ack"].Count)
	}
	// The built-in protocol, same flags: the same held, every message delivered.
	builtin := runScenarioArgs(t, target, n, sessions, append([]string{"--proto", "imtool"}, args...)...)
	builtin.held(t, n)
	// Its deliveries are checked against its ACK statuses by its own tests
	// (an ACK may say offline); here it stands beside the scenario.
	if b := builtin.sum; b.Acked != b.Sent || b.Delivered == 0 || b.Held != s.Held {
		t.Errorf("built in: held %d, sent %d, delivered %d; the scenario held %d", b.Held, b.Sent, b.Delivered, s.Held)
	}
}
