package loadclient

import (
	"fmt"

	"github.com/imtool/imtool/internal/placeholder"
	"github.com/imtool/imtool/internal/ws"
)

// isWS tells whether proto runs over WebSocket.
func isWS(proto string) bool { return proto == ProtoWS || proto == ProtoWSIMTool }

// setupWS checks the WebSocket options against the plan's targets and
// parses the handshake and the payload template once for every loop.
func setupWS(o Options, plan *Plan) (wsSetup, error) {
	t := plan.Targets[0]
	mqttWS := o.Proto == ProtoMQTT && (t.Scheme == "ws" || t.Scheme == "wss")
	scenarioWS := o.Proto == ProtoScenario && (t.Scheme == "ws" || t.Scheme == "wss")
	for _, t := range plan.Targets {
		ws := t.Scheme == "ws" || t.Scheme == "wss"
		switch {
		case ws && !isWS(o.Proto) && o.Proto != ProtoMQTT && o.Proto != ProtoScenario:
			return wsSetup{}, fmt.Errorf("--target ws://%s… is WebSocket: give --proto ws (or ws+imtool for imtool server --ws-ports, or mqtt)", t.Host)
		case o.Proto == ProtoMQTT && ws != mqttWS:
			return wsSetup{}, fmt.Errorf("--proto mqtt over WebSocket and over TCP at once: give every --target as ws:// (or wss://), or none")
		}
	}
	if !isWS(o.Proto) && !mqttWS && !scenarioWS {
		return wsSetup{}, nil
	}
	path := o.WSPath
	if path == "" {
		path = t.Path
	}
	sub := o.WSSubprotocol
	switch {
	case sub == "" && o.Proto == ProtoWSIMTool:
		sub = "imtool"
	case sub == "" && mqttWS:
		sub = "mqtt" // MQTT 5.0 §6, 3.1.1 §6
	}
	hs, err := ws.NewHandshake(t.Host, path, o.Headers, sub)
	if err != nil {
		return wsSetup{}, err
	}
	text := o.PayloadTemplate
	if text == "" {
		text = defaultWSPayload(o.Payload)
	}
	payload, err := placeholder.Parse(text, placeholder.UID, placeholder.I, placeholder.Seq, placeholder.TS)
	if err != nil {
		return wsSetup{}, fmt.Errorf("message payload: %w", err)
	}
	return wsSetup{hs: hs, payload: payload}, nil
}
