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
	for _, t := range plan.Targets {
		if (t.Scheme == "ws" || t.Scheme == "wss") && !isWS(o.Proto) {
			return wsSetup{}, fmt.Errorf("--target ws://%s… is WebSocket: give --proto ws (or ws+imtool for imtool server --ws-ports)", t.Host)
		}
	}
	if !isWS(o.Proto) {
		return wsSetup{}, nil
	}
	t := plan.Targets[0]
	path := o.WSPath
	if path == "" {
		path = t.Path
	}
	sub := o.WSSubprotocol
	if sub == "" && o.Proto == ProtoWSIMTool {
		sub = "imtool"
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
