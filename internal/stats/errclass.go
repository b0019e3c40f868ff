package stats

import "github.com/imtool/imtool/internal/ws"

// Error classes a swarm counts, each with the fix a person can apply.
const (
	ErrAddrNotAvail   = "eaddrnotavail"
	ErrMFile          = "emfile"
	ErrNFile          = "enfile"
	ErrConnRefused    = "econnrefused"
	ErrConnectTimeout = "connect_timeout"
	ErrConnReset      = "econnreset"
	ErrLoginRejected  = "login_rejected"
	ErrLoginTimeout   = "login_timeout"
	ErrServerFull     = "server_full"
	ErrProtocol       = "protocol"
	ErrOther          = "other"
	ErrTLSUnknownCA   = "tls_unknown_ca"
	ErrTLSBadCert     = "tls_bad_certificate"
	ErrTLSCertRefused = "tls_client_cert_refused"
	ErrTLSTimeout     = "tls_handshake_timeout"
	ErrTLSHandshake   = "tls_handshake"
	ErrStepTimeout    = "step_timeout"
)

var builtinFixes = map[string]string{
	ErrAddrNotAvail:   "local ports exhausted: add source IPs (--source-ips 127.0.0.2-127.0.0.40) or widen net.ipv4.ip_local_port_range (imtool tune apply --role client)",
	ErrMFile:          "this process hit RLIMIT_NOFILE: use --procs auto, or raise the limit (imtool tune apply)",
	ErrNFile:          "the host hit fs.file-max: raise it (imtool tune apply)",
	ErrConnRefused:    "nothing listens there: start the server (imtool server --ports …) or check --target and --ports",
	ErrConnectTimeout: "SYNs dropped: raise somaxconn and tcp_max_syn_backlog on the server, check nf_conntrack_max, or lower --rate",
	ErrConnReset:      "the peer reset the connection: check the server's limits and log (full? backlog overflow?)",
	ErrLoginRejected:  "the server refused the token: pass the server's --auth-secret",
	ErrLoginTimeout:   "no LOGIN_OK in time: the server is overloaded or not an imtool gateway (try --proto raw)",
	ErrServerFull:     "the gateway is at --max-conns: raise it or run more processes (--procs)",
	ErrProtocol:       "the peer sent something that is not imtool protocol: check --proto and --max-frame",
	ErrOther:          "see the example error in the run record",
	ErrTLSUnknownCA:   "the server's certificate is from a CA this host does not trust: give the CA with --tls-ca FILE (or --tls-insecure to measure without checking)",
	ErrTLSBadCert:     "the server's certificate is not valid for the name dialed (or expired): give the name it carries with --tls-server-name, or fix the certificate",
	ErrTLSCertRefused: "the server refused the client certificate (or wants one): give --tls-cert and --tls-key signed by a CA the server trusts",
	ErrTLSTimeout:     "no TLS handshake within --connect-timeout: the TLS terminator is overloaded (CPU) or not TLS; lower --rate or try --tls-resume",
	ErrStepTimeout:    "a scenario's step on open saw nothing it expects within its timeout: the example names the step and shows the last bytes received; fix the step's expect, or what the step before sends (imtool swarm --scenario-check FILE prints it)",
	ErrTLSHandshake:   "the TLS handshake failed: check the port speaks TLS and --tls-min-version; the example has the reason",

	ws.ClassUpgrade401:     "the gateway wants credentials in the upgrade: pass them with --header 'Authorization: …' or 'Cookie: …' ({uid} and {i} are filled per connection)",
	ws.ClassUpgrade403:     "the gateway forbids this client: check --header (Origin, tokens) and --ws-path",
	ws.ClassUpgrade429:     "the gateway rate-limits upgrades: lower --rate, or raise its limit",
	ws.ClassUpgrade503:     "the gateway (or a proxy before it) is full or shutting down: check its capacity and log",
	ws.ClassUpgradeStatus:  "the server did not upgrade to WebSocket: check --ws-path and that the port speaks WebSocket",
	ws.ClassUpgradeInvalid: "the answer to the upgrade breaks RFC 6455 (or is not HTTP): check the target is a WebSocket endpoint and --ws-subprotocol",
	ws.ClassClosePolicy:    "the gateway closed with 1008 (policy violation): it refused what the swarm sent or who it is; check tokens, headers and payload",
	ws.ClassCloseGoingAway: "the gateway closed with 1001/1012 (going away, restart): it was shutting down or restarting",
	ws.ClassCloseTryLater:  "the gateway closed with 1013 (try again later): it is overloaded",
	ws.ClassCloseInternal:  "the gateway closed with 1011/1014 (internal error): see its log",
	ws.ClassCloseTooBig:    "the gateway closed with 1009 (message too big): lower --payload",
	ws.ClassCloseProtocol:  "the gateway closed with a protocol error code (1002/1003/1007/1010): check --proto, --ws-binary and --ws-subprotocol",
	ws.ClassCloseNormal:    "the gateway closed normally (1000) while the swarm still held the connection: check its idle timeout against --heartbeat",
	ws.ClassCloseOther:     "the gateway closed with an application code (3000-4999): see its documentation; the code is in the example",
}

// Fix returns the one-line fix for an error class, or "" when there is none.
func Fix(class string) string { return builtinFixes[class] }

// FixIn is the fix for class: the scenario's own (fixes, from a snapshot's
// Fixes) before the built-in one.
func FixIn(fixes map[string]string, class string) string {
	if f, ok := fixes[class]; ok && f != "" {
		return f
	}
	return builtinFixes[class]
}
