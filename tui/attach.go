package tui

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"

	"github.com/imtool/imtool/internal/stats"
)

// AttachOptions configure Attach: what to watch and how to show it.
type AttachOptions struct {
	stats.PollOptions
	Target int64    // the connections expected, for the progress bar
	Title  string   // the screen's title
	Out    *os.File // where to show it; nil means os.Stdout
	// LogFile receives the poller's log lines (sources going down and
	// coming back); empty discards them. Logs never go to the screen.
	LogFile string
}

// Attach watches running processes until ctx ends or the person quits: the
// dashboard when Out is a terminal, one progress line per interval
// otherwise.
func Attach(ctx context.Context, opts AttachOptions) error {
	out := opts.Out
	if out == nil {
		out = os.Stdout
	}
	if opts.LogFile != "" {
		f, err := os.OpenFile(opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("cannot open the log file: %w", err)
		}
		defer f.Close()
		opts.Log = log.New(f, "", log.LstdFlags)
	}
	p, err := stats.NewPoller(opts.PollOptions)
	if err != nil {
		return err
	}
	if !IsTerminal(out) {
		p.Run(ctx, NewLine(out))
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := New(Options{Target: opts.Target, Title: opts.Title})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Run(ctx, d)
	}()
	go func() {
		<-ctx.Done()
		_ = d.Close()
	}()
	err = d.Run()
	cancel()
	wg.Wait()
	return err
}
