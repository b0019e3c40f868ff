package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM; a second one exits at once, for a person who does not want to
// wait for a graceful stop.
func interruptContext(parent context.Context, what string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintf(os.Stderr, "\nimtool: stopping %s gracefully (press Ctrl-C again to exit at once)\n", what)
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "imtool: exiting at once")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}
