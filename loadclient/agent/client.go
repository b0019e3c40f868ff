package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client talks to one agent for a coordinator.
type Client struct {
	// Addr is the agent as the person named it (host:port); it is also the
	// host's id in merged snapshots.
	Addr  string
	token string
	http  *http.Client
}

// NewClient returns a client of the agent at addr (host:port or an
// http:// URL), authenticating with token.
func NewClient(addr, token string) *Client {
	return &Client{Addr: addr, token: token, http: &http.Client{Timeout: 10 * time.Second}}
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
	return "http://" + c.Addr + path
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
		return fmt.Errorf("agent %s: %w", c.Addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e apiError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			e.Error += " (is --token-file the same file as the agent's?)"
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

// Command sends CmdStop, CmdQuiet, CmdPause or CmdResume to the current run.
func (c *Client) Command(ctx context.Context, cmd string) error {
	return c.do(ctx, http.MethodPost, PathCurrent+"/"+cmd, nil, nil)
}
