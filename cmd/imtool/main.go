// Command imtool answers, with evidence, whether a host can hold a million
// long-lived TCP connections and what they cost. Each sub-command lives in
// its own file: flags → an options struct → one library call → exit code.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// imtool's processes hold many long-lived connections and allocate little
	// once they are up: a low GC target keeps the heap's headroom (and RSS per
	// connection) small for a little CPU. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	os.Exit(run(os.Args))
}

// run executes the CLI and turns errors into exit codes, so tests can call
// it without the process exiting.
func run(args []string) int {
	err := newApp().Run(args)
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "imtool:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "imtool:", err)
	return 1
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "imtool",
		Usage:   "prove a host can hold a million long-lived TCP connections, and measure what they cost",
		Version: version,
		Description: "imtool prepares hosts (tune, plan), runs a reference IM gateway and dispatcher\n" +
			"(server, dispatcher), drives client swarms (swarm, agent), shows runs live (dash)\n" +
			"and writes reports (report). `imtool bench` does all of it on one machine.",
		ExitErrHandler: func(*cli.Context, error) {}, // run() prints and exits, once
		Commands:       commands(),
		// A repeatable flag is repeated, never split at commas: targets
		// (HOST:9000,9005) and WebSocket headers (Accept: a, b) hold commas.
		DisableSliceFlagSeparator: true,
	}
}
