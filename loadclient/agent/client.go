package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/imtool/imtool/internal/lifecycle"
)

// Client talks to one agent for a coordinator.
type Client struct {
	// Addr is the agent as the person named it (host:port); it is also the
	// host's id in merged snapshots.
	Addr  string
	token string
	http  *http.Client
}

// NewClient returns a client of the agent at addr, authenticating with
// token. addr is host:port (TLS), an https:// URL, or an http:// URL for an
// agent that runs with --insecure-http. pins are the SHA-256 fingerprints
// (ParseFingerprints) the agent's certificate may have; none: the system's
// roots must verify it.
func NewClient(addr, token string, pins []string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = clientTLS(pins)
	return &Client{Addr: addr, token: token, http: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
}

// StatusError is an answer of the agent that is not 2xx.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

func (c *Client) url(path string) string {
	if strings.HasPrefix(c.Addr, "http://") || strings.HasPrefix(c.Addr, "https://") {
		return strings.TrimRight(c.Addr, "/") + path
	}
	return "https://" + c.Addr + path
}

// do sends a request with body (nil: none) and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("agent %s: cannot encode the request: %w", c.Addr, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return fmt.Errorf("agent %s: %w", c.Addr, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("agent %s: %w%s", c.Addr, err, tlsHint(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e apiError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			e.Error += " (is --token-file the same file as the agent's?)"
		case resp.StatusCode == http.StatusBadRequest && strings.Contains(e.Error, "HTTP request to an HTTPS server"):
			e.Error += " (the agent serves TLS: name it HOST:PORT, without http://, and give its --agent-fingerprint)"
		}
		return fmt.Errorf("agent %s: %w", c.Addr, &StatusError{Code: resp.StatusCode, Msg: e.Error})
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("agent %s: cannot read its answer: %w", c.Addr, err)
	}
	return nil
}

// tlsHint is the fix for a failed TLS connection to an agent.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknown), errors.As(err, &hostname):
		return " (an agent's self-signed certificate is pinned: give --agent-fingerprint as the agent printed it at start, or `openssl x509 -in AGENT.crt -noout -fingerprint -sha256`)"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return " (the agent runs with --insecure-http: name it http://HOST:PORT in --agents, or restart it without that flag)"
	}
	return ""
}

// Info asks for the agent's host facts.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var in Info
	err := c.do(ctx, http.MethodGet, PathInfo, nil, &in)
	return in, err
}

// Start hands the agent its slice; with dryRun it only checks it.
func (c *Client) Start(ctx context.Context, req RunRequest, dryRun bool) (Status, error) {
	path := PathRuns
	if dryRun {
		path += "?dry_run=1"
	}
	var st Status
	err := c.do(ctx, http.MethodPost, path, req, &st)
	return st, err
}

// Stats returns the current run with its live snapshot. Each call is also
// the coordinator's heartbeat.
func (c *Client) Stats(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, PathStats, nil, &st)
	return st, err
}

// Command sends a control word to the current run.
func (c *Client) Command(ctx context.Context, cmd lifecycle.Command) error {
	return c.do(ctx, http.MethodPost, PathCurrent+"/"+string(cmd), nil, nil)
}
