package loadclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// TLSOptions configure TLS, for every protocol, on both engines: the
// portable engine runs crypto/tls per connection, the epoll engine
// crypto/tls's handshake on a pool and tlsrec's record layer on its loops
// (tls_epoll_linux.go).
type TLSOptions struct {
	On         bool   // --tls, or a wss:// or tls:// target
	ServerName string // SNI and the name the certificate must carry (default: the target's host)
	CAFile     string // PEM file of the CAs to trust instead of the system's
	Insecure   bool   // accept any server certificate
	CertFile   string // client certificate (PEM), for gateways that require one
	KeyFile    string // its key (PEM)
	MinVersion string // "1.0", "1.1", "1.2" (default) or "1.3"
	Resume     bool   // resume TLS sessions on redial (one session cache per process)
	// Groups are the key exchange groups to offer, as "x25519,p256" (see
	// tlsGroups; crypto/tls orders them itself); "" offers Go's default
	// (the hybrid X25519MLKEM768 first, whose key share costs more to make).
	Groups string
}

// tlsSetup is a client configuration per destination (its SNI).
type tlsSetup struct {
	cfgs []*tls.Config // by plan destination index; nil without TLS
}

// tlsTarget tells whether a --target asks for TLS.
func tlsTarget(t string) bool {
	return strings.HasPrefix(t, "wss://") || strings.HasPrefix(t, "tls://")
}

// tlsOn tells whether a swarm of o speaks TLS: --tls or a TLS target.
func tlsOn(o Options) bool {
	for _, t := range o.Targets {
		if tlsTarget(t) {
			return true
		}
	}
	return o.TLS.On
}

// tlsGroups are the names --tls-groups takes.
var tlsGroups = map[string]tls.CurveID{
	"x25519": tls.X25519, "x25519mlkem768": tls.X25519MLKEM768,
	"p256": tls.CurveP256, "p384": tls.CurveP384, "p521": tls.CurveP521,
}

// parseGroups reads --tls-groups.
func parseGroups(s string) ([]tls.CurveID, error) {
	if s == "" {
		return nil, nil
	}
	var out []tls.CurveID
	for _, name := range strings.Split(s, ",") {
		id, ok := tlsGroups[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return nil, fmt.Errorf("--tls-groups %q: %q is not a group: give x25519, x25519mlkem768, p256, p384 or p521, comma-separated (x25519 alone: the classic, cheaper key share)", s, name)
		}
		out = append(out, id)
	}
	return out, nil
}

var tlsVersions = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// setupTLS loads the CA, the client certificate and the version floor
// once, and names each destination for SNI.
func setupTLS(o TLSOptions, plan *Plan) (tlsSetup, error) {
	if !o.On {
		return tlsSetup{}, nil
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.Insecure}
	groups, err := parseGroups(o.Groups)
	if err != nil {
		return tlsSetup{}, err
	}
	base.CurvePreferences = groups
	if o.MinVersion != "" {
		v, ok := tlsVersions[o.MinVersion]
		if !ok {
			return tlsSetup{}, fmt.Errorf("--tls-min-version %q: give 1.0, 1.1, 1.2 or 1.3", o.MinVersion)
		}
		base.MinVersion = v
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return tlsSetup{}, fmt.Errorf("--tls-ca: %w", err)
		}
		base.RootCAs = x509.NewCertPool()
		if !base.RootCAs.AppendCertsFromPEM(pem) {
			return tlsSetup{}, fmt.Errorf("--tls-ca %s: no PEM certificate in it", o.CAFile)
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return tlsSetup{}, fmt.Errorf("--tls-cert and --tls-key go together: give both")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return tlsSetup{}, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		base.Certificates = []tls.Certificate{cert}
	}
	// The callback, unlike Certificates, tells the connection the server
	// asked for a certificate: a server that then closes at once (nginx
	// does, without an alert) refused ours, or its absence.
	certs := base.Certificates
	base.Certificates = nil
	base.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if asked, ok := cri.Context().Value(certAskedKey{}).(*bool); ok {
			*asked = true
		}
		if len(certs) > 0 {
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil
	}
	if o.Resume {
		base.ClientSessionCache = tls.NewLRUClientSessionCache(1 << 16)
	}
	hosts := map[netip.AddrPort]string{}
	for _, t := range plan.Targets {
		for _, p := range t.Ports {
			hosts[netip.AddrPortFrom(t.Addr, p)] = t.Host
		}
	}
	byName := map[string]*tls.Config{}
	s := tlsSetup{cfgs: make([]*tls.Config, len(plan.Dests))}
	for i, d := range plan.Dests {
		name := o.ServerName
		if name == "" {
			name = hosts[d]
		}
		if o.Resume { // a configuration per destination: its sessions are its own
			c := base.Clone()
			c.ServerName = name
			c.ClientSessionCache = destSessions{base.ClientSessionCache, d.String()}
			s.cfgs[i] = c
			continue
		}
		if byName[name] == nil {
			c := base.Clone()
			c.ServerName = name
			byName[name] = c
		}
		s.cfgs[i] = byName[name]
	}
	return s, nil
}

// destSessions is the process's one session cache seen from one
// destination: crypto/tls keys sessions by server name alone, but a
// gateway's ports and addresses may each hold ticket keys of their own
// (nginx: one per server block), which refuse the others' tickets. Keyed by
// name only, half of 4,000 handshakes over two nginx ports resumed; keyed
// by destination too, all but a handful.
type destSessions struct {
	tls.ClientSessionCache
	dest string
}

func (s destSessions) Get(key string) (*tls.ClientSessionState, bool) {
	return s.ClientSessionCache.Get(s.dest + " " + key)
}

func (s destSessions) Put(key string, cs *tls.ClientSessionState) {
	s.ClientSessionCache.Put(s.dest+" "+key, cs)
}

// certAskedKey carries, in the handshake's context, where to note that the
// server asked for a client certificate.
type certAskedKey struct{}

// tlsHandshake runs the client handshake on nc for destination d within
// the connect timeout. resumed says whether the session was resumed;
// *certAsked is set when the server asked for a client certificate.
func (c *core) tlsHandshake(ctx context.Context, nc net.Conn, d int, certAsked *bool) (tc *tls.Conn, resumed bool, err error) {
	tc = tls.Client(nc, c.tls.cfgs[d])
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, certAskedKey{}, certAsked), c.o.ConnectTimeout)
	defer cancel()
	// The handshake runs on a goroutine that ends with it: the deep stack
	// its key exchange and certificate checks grow goes with that goroutine
	// instead of staying with the connection's reader for its whole life.
	done := make(chan error, 1)
	go func() { done <- tc.HandshakeContext(ctx) }()
	if err := <-done; err != nil {
		return nil, false, err
	}
	return tc, tc.ConnectionState().DidResume, nil
}

// tlsClass is the error class of a TLS failure, or -1 when err is not one.
// The server's refusal of our certificate arrives as an alert: in TLS 1.3
// after the client's handshake is done, on the first read.
func tlsClass(err error) int {
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA):
		return clsTLSUnknownCA
	case errors.As(err, &invalid), errors.As(err, &host):
		return clsTLSBadCert
	case errors.As(err, &verify):
		return clsTLSBadCert
	case errors.As(err, &alert):
		switch alert {
		case 42, 43, 44, 45, 46, 48, 116: // bad/unsupported/revoked/expired/unknown certificate, unknown CA, certificate required
			return clsTLSCertRefused
		}
		return clsTLSHandshake
	case errors.As(err, &rec):
		return clsTLSHandshake
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return clsTLSTimeout
	}
	// Alerts from the server come as "remote error: tls: …" (an
	// unexported type).
	m := err.Error()
	if i := strings.Index(m, "remote error: tls: "); i >= 0 {
		switch a := m[i+len("remote error: tls: "):]; {
		case strings.Contains(a, "certificate"), strings.Contains(a, "unknown certificate authority"):
			return clsTLSCertRefused
		}
		return clsTLSHandshake
	}
	if strings.HasPrefix(m, "tls: ") {
		return clsTLSHandshake
	}
	return -1
}
