package stats

import "github.com/imtool/imtool/internal/tlsrec"

// The event-loop TLS's error classes (tlsrec): its records and alerts
// after the handshake.
func init() {
	for _, class := range tlsrec.Classes() {
		builtinFixes[class] = tlsrec.Fix(class)
	}
}
