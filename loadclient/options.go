package loadclient

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/portspec"
)

// Defaults of Options, the same as the flags of `imtool swarm`.
const (
	DefaultTarget         = "127.0.0.1"
	DefaultPorts          = "20" // 9000-9019 from DefaultBasePort: what `imtool server` listens on
	DefaultBasePort       = 9000
	DefaultConns          = 10000
	DefaultRate           = 10000 // connects per second
	DefaultUIDBase        = 1
	DefaultHeartbeat      = 30 * time.Second
	DefaultPayload        = 64
	DefaultHold           = 60 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultLoginTimeout   = 10 * time.Second
	DefaultMaxInflight    = 4096
	DefaultDrain          = 2 * time.Second // how long the close waits for outstanding ACKs
)

// Protocols.
const (
	ProtoIMTool = "imtool" // LOGIN, heartbeats, messages (shared/PROTOCOL.md)
	ProtoRaw    = "raw"    // connect and hold; optional payload at MsgRate
	// ProtoWS is WebSocket (RFC 6455): upgrade, WebSocket pings as
	// heartbeats, messages from a payload template timed by their echo.
	ProtoWS = "ws"
	// ProtoWSIMTool is the imtool protocol in WebSocket binary messages
	// (imtool server --ws-ports).
	ProtoWSIMTool = "ws+imtool"
	// ProtoMQTT is MQTT 3.1.1 or 5.0 (Options.MQTT): CONNECT, PINGREQ as
	// heartbeats, --subscribe and --publish at a QoS.
	ProtoMQTT = "mqtt"
)

// Close modes.
const (
	CloseFIN = "fin" // close(): orderly FIN
	CloseRST = "rst" // SO_LINGER 0 then close(): RST, no TIME_WAIT
)

// Engines.
const (
	EngineEpoll    = "epoll"    // Linux: one epoll loop per core, flat per-connection state
	EnginePortable = "portable" // net.Dialer and goroutines, every OS
	EngineAuto     = "auto"     // epoll on Linux, portable elsewhere
)

// Options describe a swarm. Zero values take the Default* values, except
// Hold (0 holds until Stop), Heartbeat (0 sends none) and MsgRate (0 sends
// no messages); DefaultOptions returns the full defaults of the command.
type Options struct {
	// Targets are HOST or HOST:PORTS (PORTS read like --ports); a target
	// without ports uses Ports. Empty: DefaultTarget.
	Targets []string
	// Ports are the ports of targets that name none (default 9000-9019).
	Ports []uint16
	// BasePort is where a port count in a target starts (default 9000).
	BasePort int
	// Conns is the number of connections of the whole swarm, all shards.
	Conns int
	// Rate is connects per second of the whole swarm, at most.
	Rate float64
	// SourceIPs are the local addresses to dial from, round-robin. Empty:
	// the kernel chooses, except that loopback targets get 127.0.0.2 and up
	// when one source cannot hold the plan (see Plan).
	SourceIPs []netip.Addr
	Proto     string // ProtoIMTool (default), ProtoRaw, ProtoWS, ProtoWSIMTool, ProtoMQTT or ProtoScenario
	UIDBase   uint64 // uid of connection 0 (default 1); connection i logs in as UIDBase+i
	// AuthSecret, when set, makes LOGIN tokens hex(HMAC-SHA256(secret, uid)).
	AuthSecret []byte
	// Heartbeat is the PING interval per connection (0: none). PINGs of the
	// swarm are spread evenly over it, with jitter.
	Heartbeat time.Duration
	// MsgRate is SENDs per second of the whole swarm, to random uids of
	// the swarm (raw: payloads per second).
	MsgRate float64
	Payload int // message payload bytes (default 64)
	// Hold is how long to hold the connections once the ramp is over;
	// 0 holds until Stop.
	Hold      time.Duration
	Close     string // CloseFIN (default) or CloseRST
	Reconnect bool   // redial dropped (and failed) connections after Backoff
	// Backoff is the wait before each redial (Reconnect); zero: DefaultBackoff.
	Backoff Backoff
	// Churn closes and redials held connections during the hold; zero: none.
	Churn Churn
	// ConnectTimeout bounds one connect (default 5s); LoginTimeout the
	// wait for LOGIN_OK (default 10s).
	ConnectTimeout time.Duration
	LoginTimeout   time.Duration
	// MaxInflight bounds the connections connecting or logging in at once
	// (default 4096): the window that keeps a slow server from being buried.
	MaxInflight int
	// Procs is the number of processes; 0 means auto (what RLIMIT_NOFILE
	// requires). The library runs one process's share (Shard); the runner
	// starts the others.
	Procs int
	// Engine is EngineAuto (the default: epoll on Linux unless TLS is on),
	// EngineEpoll or EnginePortable.
	Engine string
	// Loops is the number of event loops of the epoll engine (default:
	// one per CPU this process may use).
	Loops int
	// Shard is this process's slice of the plan; zero means all of it.
	Shard Shard
	// Drain bounds the wait for outstanding ACKs before closing (default 2s).
	Drain time.Duration
	// WebSocket (ProtoWS, ProtoWSIMTool): the request path (default the
	// target's, else /), extra header lines "Name: value", the subprotocol
	// to ask for (ws+imtool: imtool), and the message payload: a template
	// with {uid}, {i}, {seq} and {ts} (default: "{ts} xxx…" of Payload
	// bytes, so echoes are timed), sent as text or, with WSBinary, binary.
	// Path and headers may hold {uid} and {i}.
	WSPath          string
	Headers         []string
	WSSubprotocol   string
	PayloadTemplate string
	WSBinary        bool
	// MQTT is what --proto mqtt connects with, subscribes to and publishes.
	MQTT MQTTOptions
	// Scenario, when set, is the protocol (ProtoScenario): a gateway's own,
	// from a scenario file.
	Scenario *ScenarioFile `json:",omitempty"`
	// TLS, for every protocol, on both engines.
	TLS TLSOptions
	// Lookup resolves host names (default net.DefaultResolver). It is the
	// one field that does not travel: the options reach shards and agents
	// as JSON (encoding/json of this struct), and each resolves names itself.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error) `json:"-"`
}

// DefaultOptions returns the options of `imtool swarm` with no flags.
func DefaultOptions() Options {
	return Options{
		Targets: []string{DefaultTarget}, BasePort: DefaultBasePort, Conns: DefaultConns,
		Rate: DefaultRate, Proto: ProtoIMTool, UIDBase: DefaultUIDBase, Heartbeat: DefaultHeartbeat,
		Payload: DefaultPayload, Hold: DefaultHold, Close: CloseFIN, ConnectTimeout: DefaultConnectTimeout,
		LoginTimeout: DefaultLoginTimeout, MaxInflight: DefaultMaxInflight, Drain: DefaultDrain,
		Backoff: DefaultBackoff(),
	}
}

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if len(o.Targets) == 0 {
		o.Targets = []string{DefaultTarget}
	}
	if o.BasePort == 0 {
		o.BasePort = DefaultBasePort
	}
	if len(o.Ports) == 0 {
		p, err := portspec.Parse(DefaultPorts, o.BasePort)
		if err != nil {
			return o, err
		}
		o.Ports = p
	}
	if o.Conns == 0 {
		o.Conns = DefaultConns
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Scenario != nil {
		s, err := compileScenario(o)
		if err != nil {
			return o, err
		}
		if o, err = applyScenario(o, s); err != nil {
			return o, err
		}
	}
	if o.Proto == "" {
		o.Proto = ProtoIMTool
	}
	if o.UIDBase == 0 {
		o.UIDBase = DefaultUIDBase
	}
	if o.Payload == 0 {
		o.Payload = DefaultPayload
	}
	if o.Close == "" {
		o.Close = CloseFIN
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.LoginTimeout == 0 {
		o.LoginTimeout = DefaultLoginTimeout
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.Drain == 0 {
		o.Drain = DefaultDrain
	}
	o.Backoff = o.Backoff.OrDefault()
	if err := o.Backoff.Check(); err != nil {
		return o, err
	}
	if err := o.Churn.Check(); err != nil {
		return o, err
	}
	switch {
	case o.Conns < 0:
		return o, fmt.Errorf("--conns %d: give a number of connections ≥ 1", o.Conns)
	case o.Rate < 0:
		return o, fmt.Errorf("--rate %g: give connects per second > 0", o.Rate)
	case o.MsgRate < 0:
		return o, fmt.Errorf("--msg-rate %g: give messages per second ≥ 0", o.MsgRate)
	case o.Payload < 0 || o.Payload > 60000:
		return o, fmt.Errorf("--payload %d: give 0 to 60000 bytes (the gateway's --max-frame must allow it)", o.Payload)
	case o.Heartbeat < 0 || (o.Heartbeat > 0 && o.Heartbeat < time.Millisecond):
		return o, fmt.Errorf("--heartbeat %v: give 0 (none) or at least 1ms", o.Heartbeat)
	case o.Hold < 0:
		return o, fmt.Errorf("--hold %v: give a duration ≥ 0 (0 holds until Ctrl-C)", o.Hold)
	case o.MaxInflight < 1:
		return o, fmt.Errorf("--max-inflight %d: give at least 1", o.MaxInflight)
	case o.Procs < 0:
		return o, fmt.Errorf("--procs %d: give auto or a number ≥ 1", o.Procs)
	}
	switch o.Proto {
	case ProtoIMTool, ProtoRaw, ProtoWS, ProtoWSIMTool, ProtoMQTT:
	case ProtoScenario:
		if o.Scenario == nil {
			return o, fmt.Errorf("--proto scenario needs --scenario FILE")
		}
	default:
		return o, fmt.Errorf("--proto %q: give imtool, raw, ws, ws+imtool or mqtt (or --scenario FILE for another protocol)", o.Proto)
	}
	if o.Close != CloseFIN && o.Close != CloseRST {
		return o, fmt.Errorf("--close %q: give fin or rst", o.Close)
	}
	o.TLS.On = tlsOn(o)
	switch o.Engine {
	case "", EngineAuto, EngineEpoll, EnginePortable:
	default:
		return o, fmt.Errorf("--engine %q: give auto, epoll or portable", o.Engine)
	}
	return o, nil
}

// Target is one destination host with its ports.
type Target struct {
	Host   string
	Addr   netip.Addr
	Ports  []uint16
	Scheme string // "ws", "wss" (WebSocket over TLS), "tls" or "" (plain TCP)
	Path   string // the path of a ws:// or wss:// target
}

// ParseTarget reads HOST or HOST:PORTS ("10.0.0.5", "gw1:9000-9019",
// "gw2:9000,9005", "[::1]:9000"). PORTS is a range or a list as in --ports,
// but a single number is that port (HOST:PORT as everywhere), never a count.
// Without ports the target gets defPorts. ws://HOST:PORTS/PATH is a
// WebSocket target (--proto ws or ws+imtool), wss:// the same over TLS,
// tls://HOST:PORTS any protocol over TLS.
func ParseTarget(s string, defPorts []uint16, base int) (Target, error) {
	s = strings.TrimSpace(s)
	var scheme, path string
	if sc, rest, ok := strings.Cut(s, "://"); ok {
		switch sc {
		case "ws":
		case "wss", "tls":
		default:
			return Target{}, fmt.Errorf("--target %q: unknown scheme %s://: give ws://, wss://, tls:// or no scheme", s, sc)
		}
		scheme, s = sc, rest
		if i := strings.IndexByte(s, '/'); i >= 0 {
			s, path = s[:i], s[i:]
		}
	}
	if s == "" {
		return Target{}, fmt.Errorf("--target is empty: give HOST or HOST:PORTS (e.g. 127.0.0.1:9000-9019)")
	}
	host, ports := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return Target{}, fmt.Errorf("--target %q: missing ] after an IPv6 address", s)
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return Target{}, fmt.Errorf("--target %q: expected :PORTS after ]", s)
			}
			ports = rest[1:]
		}
	case strings.Count(s, ":") == 1:
		host, ports, _ = strings.Cut(s, ":")
	case strings.Count(s, ":") > 1:
		// a bare IPv6 address
	}
	t := Target{Host: host, Ports: defPorts, Scheme: scheme, Path: path}
	if ports != "" {
		if !strings.ContainsAny(ports, ",-") {
			ports += "-" + ports // HOST:PORT is one port, as everywhere else
		}
		p, err := portspec.Parse(ports, base)
		if err != nil {
			return Target{}, fmt.Errorf("--target %q: %w", s, err)
		}
		t.Ports = p
	}
	if a, err := netip.ParseAddr(host); err == nil {
		t.Addr = a.Unmap()
	}
	return t, nil
}

// resolveTargets parses and resolves o.Targets.
func resolveTargets(ctx context.Context, o Options) ([]Target, error) {
	lookup := o.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	var out []Target
	for _, s := range o.Targets {
		t, err := ParseTarget(s, o.Ports, o.BasePort)
		if err != nil {
			return nil, err
		}
		if !t.Addr.IsValid() {
			addrs, err := lookup(ctx, t.Host)
			if err != nil || len(addrs) == 0 {
				return nil, fmt.Errorf("--target %q: cannot resolve %s: %v", s, t.Host, err)
			}
			t.Addr = addrs[0].Unmap()
			for _, a := range addrs { // prefer IPv4: loopback sources are 127.x
				if a.Unmap().Is4() {
					t.Addr = a.Unmap()
					break
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// MaxSourceIPs bounds how many addresses --source-ips may name.
const MaxSourceIPs = 1 << 16

// ParseSourceIPs reads --source-ips: a range (127.0.0.2-127.0.0.40), a
// CIDR (127.0.1.0/24: its host addresses) or a comma-separated list of
// addresses, ranges and CIDRs.
func ParseSourceIPs(s string) ([]netip.Addr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	add := func(a netip.Addr) error {
		if seen[a] {
			return nil
		}
		if len(out) == MaxSourceIPs {
			return fmt.Errorf("--source-ips %q: at most %d addresses", s, MaxSourceIPs)
		}
		seen[a] = true
		out = append(out, a)
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case strings.Contains(part, "/"):
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("--source-ips %q: %q is not a CIDR: %v", s, part, err)
			}
			p = p.Masked()
			first, last := p.Addr(), lastOf(p)
			if p.Addr().Is4() && p.Bits() <= 30 {
				first, last = first.Next(), last.Prev() // skip network and broadcast
			}
			for a := first; a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
			}
		case strings.Contains(part, "-"):
			l, h, _ := strings.Cut(part, "-")
			lo, err1 := netip.ParseAddr(strings.TrimSpace(l))
			hi, err2 := netip.ParseAddr(strings.TrimSpace(h))
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("--source-ips %q: %q is not a range of addresses (a.b.c.d-a.b.c.e)", s, part)
			}
			if lo.BitLen() != hi.BitLen() || hi.Less(lo) {
				return nil, fmt.Errorf("--source-ips %q: range %q runs backwards or mixes IPv4 and IPv6", s, part)
			}
			for a := lo; a.IsValid() && a.Compare(hi) <= 0; a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
			}
		default:
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("--source-ips %q: %q is not an address", s, part)
			}
			if err := add(a.Unmap()); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// FormatSourceIPs renders addresses compactly, joining consecutive ones
// into ranges: "127.0.0.2-127.0.0.9,10.0.0.1". ParseSourceIPs reads it back.
func FormatSourceIPs(addrs []netip.Addr) string {
	var b strings.Builder
	for i := 0; i < len(addrs); {
		j := i
		for j+1 < len(addrs) && addrs[j+1] == addrs[j].Next() {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(addrs[i].String())
		if j > i {
			b.WriteByte('-')
			b.WriteString(addrs[j].String())
		}
		i = j + 1
	}
	return b.String()
}
