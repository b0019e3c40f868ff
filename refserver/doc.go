// Package refserver is imtool's reference IM gateway and its dispatcher.
//
// The gateway (Gateway) speaks the client protocol of docs/PROTOCOL.md on
// many ports through one evio event loop set. It guards evio's sharp edges:
// it writes to sockets itself from its own bounded per-connection queue (so
// evio's Wake, which replaces pending output, never loses a byte), it caps
// its connections below the fd limit and refuses the excess with ERROR 10 (so
// accept never meets EMFILE, which would stop evio), and a malformed frame
// closes only the connection that sent it.
//
// The dispatcher (Dispatcher) joins gateways: each dials it, registers, syncs
// its sessions and then streams changes; the dispatcher routes SENDs to the
// gateway that holds the recipient, fans BROADCASTs out and kicks the older
// session when a uid logs in twice. The link format is in docs/LINK.md.
//
// Cluster runs a gateway sharded over several processes of this binary with
// SO_REUSEPORT listeners, plus a dispatcher when none is given.
package refserver
