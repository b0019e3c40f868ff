package stats

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
)

var fixes = map[string]string{
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
}

// Fix returns the one-line fix for an error class, or "" when there is none.
func Fix(class string) string { return fixes[class] }
