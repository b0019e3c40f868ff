// A Socket.IO v4 server for imtool's scenario tests (scenariotest.StartSocketIO).
//
//   node server.js [--port=N] [--token=SECRET] [--ping-interval=MS] [--ping-timeout=MS]
//
// Each flag falls back to an environment variable: PORT, TOKEN, PING_INTERVAL,
// PING_TIMEOUT (defaults: 3000, "secret", 25000, 20000, Socket.IO's own ping
// defaults). It listens on 127.0.0.1 and accepts the WebSocket transport only:
//
//   ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket
//
// A client's CONNECT packet must carry auth {"token": TOKEN, "uid": "N"};
// otherwise the namespace refuses it with 44{"message":"Not authorized"}.
// A connected socket joins room "u:"+uid. The event
//   42<ack>["msg", to, payload]
// emits 42["msg", payload] to room "u:"+to and acknowledges 43<ack>["ok"].
// GET /count answers {"clients": <Engine.IO connections>, "sockets": <sockets
// connected to the default namespace>}.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function flag(name, env, def) {
  const prefix = "--" + name + "=";
  for (const a of process.argv.slice(2)) {
    if (a.startsWith(prefix)) return a.slice(prefix.length);
  }
  const v = process.env[env];
  return v !== undefined && v !== "" ? v : def;
}

function int(name, env, def) {
  const s = flag(name, env, String(def));
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`bad --${name} / ${env}: ${JSON.stringify(s)}`);
    process.exit(2);
  }
  return n;
}

const port = int("port", "PORT", 3000);
const token = flag("token", "TOKEN", "secret");
const pingInterval = int("ping-interval", "PING_INTERVAL", 25000);
const pingTimeout = int("ping-timeout", "PING_TIMEOUT", 20000);

let io;
const httpServer = http.createServer((req, res) => {
  // Socket.IO answers /socket.io/ itself; everything else comes here.
  if (req.method === "GET" && req.url.split("?")[0] === "/count") {
    const body = JSON.stringify({
      clients: io.engine.clientsCount,
      sockets: io.of("/").sockets.size,
    });
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(body);
    return;
  }
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found\n");
});

io = new Server(httpServer, {
  transports: ["websocket"],
  pingInterval,
  pingTimeout,
  serveClient: false,
});

io.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  const uid = auth.uid;
  if (
    auth.token === token &&
    (typeof uid === "string" || typeof uid === "number") &&
    String(uid) !== ""
  ) {
    socket.data.uid = String(uid);
    next();
    return;
  }
  next(new Error("Not authorized"));
});

io.on("connection", (socket) => {
  socket.join("u:" + socket.data.uid);
  socket.on("msg", (to, payload, ack) => {
    if (typeof ack !== "function" && typeof payload === "function") {
      ack = payload; // ["msg", to] with an ack and no payload
      payload = undefined;
    }
    if (typeof to === "string" || typeof to === "number") {
      io.to("u:" + String(to)).emit("msg", payload);
    }
    if (typeof ack === "function") ack("ok");
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(
    `socketio listening on 127.0.0.1:${port} (socket.io ${require("socket.io/package.json").version}, pingInterval ${pingInterval} ms, pingTimeout ${pingTimeout} ms)`,
  );
});

function stop() {
  io.close();
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
