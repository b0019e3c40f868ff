// Command imtool answers, with evidence, whether a host can hold a million
// long-lived TCP connections and what they cost. Each sub-command lives in
// its own file: flags → an options struct → one library call → exit code.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is what --version prints and what agents compare: the one set at
// build time with -ldflags "-X main.version=…", else (see init) the module
// version `go install …@version` stamped into the binary, else "dev".
var version = "dev"

func init() {
	if bi, ok := debug.ReadBuildInfo(); ok && version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
}

func main() {
	// imtool's processes hold many long-lived connections and allocate little
	// once they are up: a low GC target keeps the heap's headroom (and RSS per
	// connection) small for a little CPU. A process that starts shards holds
	// none of their connections and raises it again (internal/shard). GOGC in
	// the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	os.Exit(run(os.Args))
}

// run executes the CLI and turns errors into exit codes, so tests can call
// it without the process exiting.
func run(args []string) int { return runTo(args, os.Stdout, os.Stderr) }

// runTo is run with its output and errors going to stdout and stderr.
func runTo(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	err := app.Run(args)
	if err == nil {
		return 0
	}
	// `imtool help NAME` for a NAME that does not exist: urfave/cli exits 3,
	// which imtool keeps for failed runs.
	if topic, ok := strings.CutPrefix(err.Error(), "No help topic for '"); ok {
		err = unknownCommandError(app.Commands, "imtool", strings.SplitN(topic, "'", 2)[0])
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "imtool:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "imtool:", err)
	return exitFailed
}

func newApp() *cli.App {
	cmds := commands()
	applyUsageRules(cmds)
	return &cli.App{
		Name:    "imtool",
		Usage:   "prove a host can hold a million long-lived TCP connections, and measure what they cost",
		Version: version,
		Description: "imtool prepares hosts (tune, plan), runs a reference IM gateway and dispatcher\n" +
			"(server, dispatcher), drives client swarms (swarm, agent), shows runs live (dash)\n" +
			"and writes reports (report). `imtool bench` does all of it on one machine.\n\n" +
			"Exit codes, the same for every command (each --help has its own EXIT STATUS):\n" +
			"0 yes; 1 no (fewer held, host needs tuning); 2 bad flags or arguments; 3 failed;\n" +
			"4 a --threshold not met; 5 report compare found a regression.",
		ExitErrHandler: func(*cli.Context, error) {}, // run() prints and exits, once
		Commands:       cmds,
		Action:         unknownCommand,
		OnUsageError:   onUsageError,
		// A repeatable flag is repeated, never split at commas: targets
		// (HOST:9000,9005) and WebSocket headers (Accept: a, b) hold commas.
		DisableSliceFlagSeparator: true,
	}
}
