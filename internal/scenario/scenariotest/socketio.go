package scenariotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	rt "github.com/imtool/imtool/refserver/refservertest"
)

// SocketIOOptions configures StartSocketIO. Zero durations take the
// server's defaults (Socket.IO's own: 25 s and 20 s); an empty Token is
// "secret".
type SocketIOOptions struct {
	PingInterval, PingTimeout time.Duration
	Token                     string
}

// SocketIO is a Socket.IO v4 server (npm socket.io, pinned in
// socketio/package.json) running on Debian's node, WebSocket transport
// only, from the fixture socketio/server.js.
//
// A client dials URL, reads the Engine.IO open packet 0{"sid":…}, sends
// 40{"token":Token,"uid":"N"} and gets 40{"sid":…}; a wrong token gets
// 44{"message":"Not authorized"}. The connected socket joins room "u:N";
// 42<id>["msg","M",payload] emits 42["msg",payload] to every socket of uid
// M and is acknowledged 43<id>["ok"]. The server pings (2) every
// PingInterval; a client that does not pong (3) within PingTimeout is
// closed.
type SocketIO struct {
	URL   string // ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket
	Token string // the secret the auth middleware expects
	Addr  string // 127.0.0.1:PORT
	Proc  *rt.Proc
}

// SocketIOCount is the server's own count, from GET /count.
type SocketIOCount struct {
	Clients int `json:"clients"` // Engine.IO connections (io.engine.clientsCount), authed or not
	Sockets int `json:"sockets"` // sockets connected to the default namespace (passed auth)
}

// socketIODir is the fixture's folder, beside this source file, so that a
// test in any package finds it.
func socketIODir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "socketio"
	}
	return filepath.Join(filepath.Dir(file), "socketio")
}

// SocketIOInstall is the command that installs the fixture's node modules.
const SocketIOInstall = "npm ci --prefix internal/scenario/scenariotest/socketio"

// StartSocketIO starts the fixture on a free loopback port and waits until
// it accepts connections; it is stopped when t ends. It skips t (fails it
// under CI) when node or the fixture's node_modules is missing.
func StartSocketIO(t testing.TB, o SocketIOOptions) *SocketIO {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Missing(t, "node", "apt-get install nodejs npm")
	}
	dir := socketIODir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io", "package.json")); err != nil {
		Missing(t, "socket.io", SocketIOInstall)
	}
	if o.Token == "" {
		o.Token = "secret"
	}
	port := rt.FreePort(t)
	args := []string{filepath.Join(dir, "server.js"),
		"--port=" + strconv.Itoa(port),
		"--token=" + o.Token,
	}
	if o.PingInterval > 0 {
		args = append(args, "--ping-interval="+strconv.FormatInt(o.PingInterval.Milliseconds(), 10))
	}
	if o.PingTimeout > 0 {
		args = append(args, "--ping-timeout="+strconv.FormatInt(o.PingTimeout.Milliseconds(), 10))
	}
	p := rt.Start(t, node, args...)
	addr := Addr(port)
	if !WaitTCP(p, addr, 15*time.Second) {
		t.Fatalf("socket.io server did not listen on %s; its log:\n%s", addr, p.Output())
	}
	return &SocketIO{
		URL:   "ws://" + addr + "/socket.io/?EIO=4&transport=websocket",
		Token: o.Token,
		Addr:  addr,
		Proc:  p,
	}
}

// Count is the server's count of connections, from GET /count.
func (s *SocketIO) Count() (SocketIOCount, error) {
	var c SocketIOCount
	err := getJSON("http://"+s.Addr+"/count", &c)
	return c, err
}

// Clients is the server's count of Engine.IO connections
// (io.engine.clientsCount), from GET /count.
func (s *SocketIO) Clients() (int, error) {
	c, err := s.Count()
	return c.Clients, err
}

// Sockets is the server's count of sockets connected to the default
// namespace, those that passed auth, from GET /count.
func (s *SocketIO) Sockets() (int, error) {
	c, err := s.Count()
	return c.Sockets, err
}
