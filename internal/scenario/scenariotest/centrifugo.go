package scenariotest

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// CentrifugoInstall is how CI installs Centrifugo (a from-source build
// of about 2–3 minutes on 2 cores; the binary lands in $(go env
// GOPATH)/bin and go.mod is not touched).
const CentrifugoInstall = "go install github.com/centrifugal/centrifugo/v6@v6.9.1"

// DefaultCentrifugoSecret is the HS256 secret of connection tokens when
// CentrifugoOptions.Secret is empty.
const DefaultCentrifugoSecret = "imtool-scenariotest-secret"

// CentrifugoNamespace is the channel namespace of the config: any
// authenticated client may publish into any of its channels
// (allow_publish_for_client) without being subscribed; nobody may
// subscribe client-side. Token gives each user a server-side
// subscription to its personal channel CentrifugoChannel(uid), through
// the JWT "channels" claim.
const CentrifugoNamespace = "chat"

// CentrifugoChannel is the personal channel of user uid: "chat:<uid>".
func CentrifugoChannel(uid string) string { return CentrifugoNamespace + ":" + uid }

// CentrifugoOptions configures StartCentrifugo.
type CentrifugoOptions struct {
	// PingInterval is client.ping_interval: the server sends the JSON ping
	// {} this often (the first one at a random point between half of it
	// and all of it). Zero: Centrifugo's default, 25s.
	PingInterval time.Duration
	// PongTimeout is client.pong_timeout: a client that sent no command
	// (a pong {} or any other) within it after a ping is closed with code
	// 3012 "no pong". Zero: Centrifugo's default, 8s. It must be less
	// than the ping interval, or Centrifugo refuses to start.
	PongTimeout time.Duration
	// Secret is client.token.hmac_secret_key, the HS256 secret of
	// connection JWTs; DefaultCentrifugoSecret when empty.
	Secret string
}

// Centrifugo is a Centrifugo v6 server started for a test.
type Centrifugo struct {
	Addr       string // host:port of its HTTP server
	WSURL      string // ws://host:port/connection/websocket (JSON protocol)
	APIURL     string // http://host:port/api (server API)
	APIKey     string // its X-API-Key
	MetricsURL string // http://host:port/metrics (Prometheus)
	Secret     string // HS256 secret of connection tokens
	ConfigFile string
	Config     []byte // the JSON config written to ConfigFile
	Proc       *rt.Proc
}

// CentrifugoBinary is the path of centrifugo: on PATH, else in
// $HOME/go/bin or $(go env GOPATH)/bin; "" when it is not installed.
func CentrifugoBinary() string {
	if p, err := exec.LookPath("centrifugo"); err == nil {
		return p
	}
	var dirs []string
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(gp)[0], "bin"))
	} else if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		if gp := strings.TrimSpace(string(out)); gp != "" {
			dirs = append(dirs, filepath.Join(filepath.SplitList(gp)[0], "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "centrifugo")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// StartCentrifugo starts Centrifugo on a loopback port with a JSON config
// written in t.TempDir(), waits until it accepts connections, and stops it
// when t ends.
func StartCentrifugo(t testing.TB, o CentrifugoOptions) *Centrifugo {
	t.Helper()
	bin := CentrifugoBinary()
	if bin == "" {
		Missing(t, "centrifugo", CentrifugoInstall)
		return nil
	}
	if o.Secret == "" {
		o.Secret = DefaultCentrifugoSecret
	}
	port := rt.FreePort(t)
	c := &Centrifugo{
		Addr:   Addr(port),
		APIKey: "imtool-scenariotest-api-key",
		Secret: o.Secret,
	}
	c.WSURL = "ws://" + c.Addr + "/connection/websocket"
	c.APIURL = "http://" + c.Addr + "/api"
	c.MetricsURL = "http://" + c.Addr + "/metrics"

	client := map[string]any{
		"token":           map[string]any{"hmac_secret_key": o.Secret},
		"allowed_origins": []string{"*"},
	}
	if o.PingInterval > 0 {
		client["ping_interval"] = o.PingInterval.String()
	}
	if o.PongTimeout > 0 {
		client["pong_timeout"] = o.PongTimeout.String()
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "info"},
		// No phoning home from a test.
		"usage_stats": map[string]any{"disabled": true},
		"client":      client,
		"http_api":    map[string]any{"key": c.APIKey},
		// centrifugo_client_connections_inflight, the live client count.
		"prometheus": map[string]any{"enabled": true},
		"channel": map[string]any{
			"namespaces": []any{map[string]any{
				"name":                     CentrifugoNamespace,
				"allow_publish_for_client": true,
			}},
		},
	}
	var err error
	if c.Config, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c.ConfigFile = filepath.Join(dir, "config.json")
	if err := os.WriteFile(c.ConfigFile, c.Config, 0o644); err != nil {
		t.Fatal(err)
	}
	c.Proc = rt.Start(t, bin, "--config", c.ConfigFile)
	if !WaitTCP(c.Proc, c.Addr, 20*time.Second) {
		t.Fatalf("centrifugo did not start on %s (config:\n%s)\nlog:\n%s", c.Addr, c.Config, c.Proc.Output())
	}
	return c
}

// Token is an HS256 connection JWT for user sub, valid for an hour, signed
// with the server's secret. Its "channels" claim subscribes the
// connection server-side to channels, or to the user's personal channel
// CentrifugoChannel(sub) when none are given.
func (c *Centrifugo) Token(sub string, channels ...string) string {
	if len(channels) == 0 {
		channels = []string{CentrifugoChannel(sub)}
	}
	return CentrifugoJWT(c.Secret, map[string]any{
		"sub":      sub,
		"exp":      time.Now().Add(time.Hour).Unix(),
		"channels": channels,
	})
}

// TokenClaims is an HS256 JWT of claims signed with the server's secret
// (for an expired token, say: "exp" in the past).
func (c *Centrifugo) TokenClaims(claims map[string]any) string {
	return CentrifugoJWT(c.Secret, claims)
}

// CentrifugoJWT is the HS256 JWT (RFC 7519) of claims signed with secret:
// base64url (unpadded) of the header {"alg":"HS256","typ":"JWT"}, ".",
// base64url of the claims' JSON, ".", base64url of the HMAC-SHA256 of the
// first two parts.
func CentrifugoJWT(secret string, claims any) string {
	body, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// API calls the server API method (POST /api/<method>) with params and
// returns its reply's "result"; a reply with "error" is an error.
func (c *Centrifugo) API(method string, params any) (json.RawMessage, error) {
	if params == nil {
		params = struct{}{}
	}
	body, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.APIURL+"/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", c.APIKey)
	hc := http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("centrifugo api %s: %s", method, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("centrifugo api %s: %w", method, err)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("centrifugo api %s: error %d %s", method, r.Error.Code, r.Error.Message)
	}
	return r.Result, nil
}

// Clients is the server's own count of connected clients: the sum of the
// Prometheus gauge centrifugo_client_connections_inflight. Centrifuge
// moves it in the same call that adds a client to its hub (after a
// successful connect command) and removes it (on close), so it is exact
// at the moment of the request; connections that have not (or not
// successfully) sent connect are not counted. Each call is one local
// HTTP GET, cheap enough to poll every few milliseconds.
func (c *Centrifugo) Clients() (int, error) {
	hc := http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get(c.MetricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("centrifugo /metrics: %s", resp.Status)
	}
	const name = "centrifugo_client_connections_inflight"
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // another metric with this prefix
		}
		i := strings.LastIndexByte(rest, ' ')
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("centrifugo /metrics: %q: %w", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return int(sum), nil
}

// InfoClients is the node's num_clients from the server API's info
// method. Centrifuge refreshes that figure only when the node publishes
// its node info, every 3 s (fixed in centrifuge), so it lags by up to
// 3 s; Clients is the live figure.
func (c *Centrifugo) InfoClients() (int, error) {
	res, err := c.API("info", nil)
	if err != nil {
		return 0, err
	}
	var info struct {
		Nodes []struct {
			NumClients int `json:"num_clients"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(res, &info); err != nil {
		return 0, fmt.Errorf("centrifugo api info: %w", err)
	}
	n := 0
	for _, nd := range info.Nodes {
		n += nd.NumClients
	}
	return n, nil
}

// WaitClients polls Clients until it is want or timeout passes; it
// returns the last figure read.
func (c *Centrifugo) WaitClients(want int, timeout time.Duration) (int, error) {
	return pollFigure(c.Clients, want, timeout)
}
