package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source returns the current snapshot.
type Source func() Snapshot

// Handler serves GET /stats (the snapshot as JSON) and GET /metrics
// (Prometheus text) from src.
func Handler(src Source) http.Handler {
	reg := newRegistry(src)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(src())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// Serve listens on addr and serves Handler(src) until the returned close
// function is called. An empty addr serves nothing.
func Serve(addr string, src Source) (actual string, closeFn func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("cannot serve stats on %s: %w (choose another address with --stats, or --stats '' to turn it off)", addr, err)
	}
	srv := &http.Server{Handler: Handler(src), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us; nothing to report to
		}
	}()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}
