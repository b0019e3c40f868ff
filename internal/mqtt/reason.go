package mqtt

import "strconv"

// 3.1.1 CONNACK return codes (§3.2.2.3).
const (
	RCAccepted           byte = 0
	RCBadVersion         byte = 1
	RCIdentifierRejected byte = 2
	RCServerUnavailable  byte = 3
	RCBadCredentials     byte = 4
	RCNotAuthorized      byte = 5
)

var returnNames = [6]string{"connection accepted", "unacceptable protocol version",
	"identifier rejected", "server unavailable", "bad user name or password", "not authorized"}

// 5.0 reason codes (§2.4) that need a name in a client's report.
var reasonNames = map[byte]string{
	0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2", 0x04: "disconnect with will message",
	0x10: "no matching subscribers", 0x11: "no subscription existed", 0x18: "continue authentication",
	0x19: "re-authenticate", 0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
	0x83: "implementation specific error", 0x84: "unsupported protocol version",
	0x85: "client identifier not valid", 0x86: "bad user name or password", 0x87: "not authorized",
	0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down",
	0x8C: "bad authentication method", 0x8D: "keep alive timeout", 0x8E: "session taken over",
	0x8F: "topic filter invalid", 0x90: "topic name invalid", 0x91: "packet identifier in use",
	0x92: "packet identifier not found", 0x93: "receive maximum exceeded", 0x94: "topic alias invalid",
	0x95: "packet too large", 0x96: "message rate too high", 0x97: "quota exceeded",
	0x98: "administrative action", 0x99: "payload format invalid", 0x9A: "retain not supported",
	0x9B: "QoS not supported", 0x9C: "use another server", 0x9D: "server moved",
	0x9E: "shared subscriptions not supported", 0x9F: "connection rate exceeded",
	0xA0: "maximum connect time", 0xA1: "subscription identifiers not supported",
	0xA2: "wildcard subscriptions not supported",
}

// CodeText names a code as the broker sent it in packet type t at level v:
// "CONNACK 0x86 bad user name or password", "CONNACK 4 bad user name or
// password" (3.1.1 return codes are decimal, as the spec writes them).
func CodeText(v, t, code byte) string {
	if v == V311 && t == CONNACK {
		name := "reserved"
		if int(code) < len(returnNames) {
			name = returnNames[code]
		}
		return "CONNACK " + strconv.Itoa(int(code)) + " " + name
	}
	name, ok := reasonNames[code]
	if !ok {
		name = "unknown reason"
	}
	return TypeName(t) + " 0x" + hex2(code) + " " + name
}

func hex2(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&0xF]})
}

// Error classes of an MQTT connection the broker refused or ended. The
// code itself goes in the class's example (CodeText).
const (
	ClassBadCredentials   = "mqtt_bad_credentials"
	ClassNotAuthorized    = "mqtt_not_authorized"
	ClassServerBusy       = "mqtt_server_busy"
	ClassQuotaExceeded    = "mqtt_quota_exceeded"
	ClassClientIDRejected = "mqtt_client_id_rejected"
	ClassBadVersion       = "mqtt_unsupported_version"
	ClassBanned           = "mqtt_banned"
	ClassUseAnotherServer = "mqtt_use_another_server"
	ClassTakenOver        = "mqtt_session_taken_over"
	ClassKeepAliveTimeout = "mqtt_keepalive_timeout"
	ClassPacketTooLarge   = "mqtt_packet_too_large"
	ClassProtocol         = "mqtt_protocol_error"
	ClassTopicRefused     = "mqtt_topic_refused"
	ClassRefused          = "mqtt_refused"
	ClassDisconnected     = "mqtt_disconnected"
	// ClassClosedAtConnect is a broker that closed the connection before
	// its CONNACK: mosquitto does so at max_connections.
	ClassClosedAtConnect = "mqtt_closed_before_connack"
	ClassConnackTimeout  = "mqtt_connack_timeout"
)

// Class is the error class of code in packet type t (CONNACK, DISCONNECT,
// a 5.0 PUBACK..PUBCOMP or SUBACK) at level v; "" for a success code.
func Class(v, t, code byte) string {
	if v == V311 && t == CONNACK {
		switch code {
		case RCAccepted:
			return ""
		case RCBadVersion:
			return ClassBadVersion
		case RCIdentifierRejected:
			return ClassClientIDRejected
		case RCServerUnavailable:
			return ClassServerBusy
		case RCBadCredentials:
			return ClassBadCredentials
		case RCNotAuthorized:
			return ClassNotAuthorized
		}
		return ClassRefused
	}
	switch code {
	case 0x00, 0x01, 0x02, 0x04, 0x10, 0x11, 0x18, 0x19:
		if t == DISCONNECT && code != 0 {
			return ClassDisconnected
		}
		return ""
	case 0x81, 0x82, 0x83:
		return ClassProtocol
	case 0x84:
		return ClassBadVersion
	case 0x85:
		return ClassClientIDRejected
	case 0x86, 0x8C:
		return ClassBadCredentials
	case 0x87:
		return ClassNotAuthorized
	case 0x88, 0x89, 0x8B:
		return ClassServerBusy
	case 0x8A:
		return ClassBanned
	case 0x8D:
		return ClassKeepAliveTimeout
	case 0x8E:
		return ClassTakenOver
	case 0x8F, 0x90, 0x94, 0x99, 0x9A, 0x9B, 0x9E, 0xA1, 0xA2:
		return ClassTopicRefused
	case 0x95:
		return ClassPacketTooLarge
	case 0x93, 0x96, 0x97, 0x9F:
		return ClassQuotaExceeded
	case 0x9C, 0x9D:
		return ClassUseAnotherServer
	}
	if t == DISCONNECT {
		return ClassDisconnected
	}
	return ClassRefused
}

var fixes = map[string]string{
	ClassBadCredentials:   "the broker refused the user name or password: pass the ones its password file (or auth plugin) has with --username/--password",
	ClassNotAuthorized:    "the broker does not let this client connect: give credentials (--username/--password; mosquitto refuses anonymous clients unless allow_anonymous true) or check its ACL",
	ClassServerBusy:       "the broker says it is unavailable, busy or shutting down: check its log and capacity, lower --rate, or spread over more brokers",
	ClassQuotaExceeded:    "the broker's quota or rate limit refused the client (quota exceeded, message or connection rate too high): lower --rate or --msg-rate, or raise the broker's limit",
	ClassClientIDRejected: "the broker rejected the client id: make --client-id unique per connection ('imtool-{i}') and within the broker's length and character limits",
	ClassBadVersion:       "the broker does not speak this MQTT version: try --mqtt-version 3.1.1 (or 5)",
	ClassBanned:           "the broker has banned this client (id, user or address): see its ban list",
	ClassUseAnotherServer: "the broker points to another server (use another server, server moved): the example has its reference; target that one",
	ClassTakenOver:        "another connection connected with the same client id and took the session over: make --client-id unique per connection ('imtool-{i}')",
	ClassKeepAliveTimeout: "the broker heard nothing for 1.5 keep-alive periods: the swarm fell behind (CPU) or --heartbeat is longer than the keep-alive it announced",
	ClassPacketTooLarge:   "a packet was larger than the broker accepts: lower --payload or raise the broker's message_size_limit/max_packet_size",
	ClassProtocol:         "the broker or the swarm broke the MQTT protocol: check --mqtt-version and that the port speaks MQTT; the example has the reason",
	ClassTopicRefused:     "the broker refused the topic, filter, QoS or retain flag: check --publish/--subscribe, the QoS and the broker's ACL and limits",
	ClassRefused:          "the broker refused with a code imtool has no fix for: the example has the code",
	ClassDisconnected:     "the broker ended the session with DISCONNECT: the example has its reason code",
	ClassClosedAtConnect:  "the broker closed the connection before its CONNACK: it is at its connection limit (mosquitto: max_connections) or refuses this address or port; raise the limit or run more brokers",
	ClassConnackTimeout:   "no CONNACK within --login-timeout: the broker is overloaded or the port does not speak MQTT",
}

// Fix is the one-line fix for class, or "" when there is none.
func Fix(class string) string { return fixes[class] }

// Classes lists every error class, in a fixed order: an engine counts them
// by index.
func Classes() []string {
	return []string{ClassBadCredentials, ClassNotAuthorized, ClassServerBusy, ClassQuotaExceeded,
		ClassClientIDRejected, ClassBadVersion, ClassBanned, ClassUseAnotherServer, ClassTakenOver,
		ClassKeepAliveTimeout, ClassPacketTooLarge, ClassProtocol, ClassTopicRefused, ClassRefused,
		ClassDisconnected, ClassClosedAtConnect, ClassConnackTimeout}
}
