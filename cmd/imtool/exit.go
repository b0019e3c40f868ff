package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imtool/imtool/internal/runner"
)

// Exit codes, the same for every command: a script tells "the answer is no"
// (1) from "you asked wrongly" (2) from "it broke" (3), and a failed
// --threshold or a regression found by `report compare` from all three.
const (
	exitOK         = runner.ExitOK        // done, and the answer is yes
	exitShort      = runner.ExitShort     // done, and the answer is no: fewer held, host needs tuning, …
	exitUsage      = runner.ExitUsage     // bad flags, arguments or an impossible plan: nothing was done
	exitFailed     = runner.ExitFailed    // could not do it: a port in use, a crash, an unreadable file
	exitThreshold  = runner.ExitThreshold // a --threshold was not met (it decides over exitShort)
	exitRegression = 5                    // report compare: B is worse than A beyond the noise margin
)

// exitStatus is the EXIT STATUS paragraph of a command's --help; lines are
// "CODE meaning". The README's table says the same.
func exitStatus(lines ...string) string {
	return "\n\nEXIT STATUS\n  " + strings.Join(lines, "\n  ")
}

const (
	exitUsageLine  = "2 bad flags or arguments (the error names the fix); nothing was done"
	exitFailedLine = "3 failed: it could not start or broke (the reason is printed)"
)

// usageError is a wrong flag or argument: exit code 2.
func usageError(err error) error { return cli.Exit(err.Error(), exitUsage) }

// failed is a command that could not do its job: exit code 3.
func failed(err error) error { return cli.Exit(err.Error(), exitFailed) }

// runExit turns a run's exit code, and the error that explains it, into the
// command's exit.
func runExit(code int, err error) error {
	if code == 0 {
		return nil
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return cli.Exit(msg, code)
}

// exitCode turns a non-zero code into an exit without a message.
func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return cli.Exit("", code)
}

// onUsageError turns urfave/cli's flag errors into exit code 2 with the
// nearest flag ("did you mean --conns?") and, for a duration given without
// a unit, the way to write it.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return usageError(explainFlagError(c.Command, err))
}

// explainFlagError adds the fix to a flag parsing error of cmd.
func explainFlagError(cmd *cli.Command, err error) error {
	msg := err.Error()
	where := "imtool"
	if cmd != nil && cmd.HelpName != "" {
		where = cmd.HelpName
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		return unknownFlag(cmd, "--"+name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return fmt.Errorf("--%s needs a value (see %s --help)", strings.TrimLeft(name, "-"), where)
	}
	// flag.Parse: `invalid value "5" for flag -heartbeat: parse error`
	var value, name string
	if n, _ := fmt.Sscanf(msg, "invalid value %q for flag -%s", &value, &name); n == 2 {
		name = strings.TrimSuffix(name, ":")
		if f := lookupFlag(cmd, name); f != nil {
			if _, ok := f.(*cli.DurationFlag); ok {
				return fmt.Errorf("--%s %q is not a duration: %s", name, value, durationHint(value))
			}
			return fmt.Errorf("--%s %q: not a valid value (see %s --help)", name, value, where)
		}
	}
	return fmt.Errorf("%s (see %s --help)", msg, where)
}

// unknownFlag names the nearest flag of cmd.
func unknownFlag(cmd *cli.Command, given string) error {
	where := "imtool"
	var flags []cli.Flag
	if cmd != nil {
		flags = cmd.Flags
		if cmd.HelpName != "" {
			where = cmd.HelpName
		}
	}
	msg := fmt.Sprintf("%s has no flag %s", subject(where), given)
	if cli.SuggestFlag != nil {
		if s := cli.SuggestFlag(flags, strings.TrimLeft(given, "-"), true); s != "" && s != given {
			msg += fmt.Sprintf("; did you mean %s?", s)
		}
	}
	return errors.New(msg + " (see " + where + " --help)")
}

// durationHint says how to write a duration; a bare number gets its unit:
// "5" → "write 5s".
func durationHint(value string) string {
	const units = "a number with a unit: 500ms, 5s, 2m, 1h30m"
	if _, err := strconv.ParseFloat(value, 64); err == nil {
		return fmt.Sprintf("durations take a unit, so write %ss (%s)", value, units)
	}
	return "give " + units
}

func lookupFlag(cmd *cli.Command, name string) cli.Flag {
	if cmd == nil {
		return nil
	}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// unknownCommand is the action of a command that only has subcommands (and
// of imtool itself): no argument shows the help; anything else is a command
// that does not exist, exit 2, with the nearest one.
func unknownCommand(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowSubcommandHelp(c)
	}
	where := "imtool"
	cmds := c.App.Commands
	if c.Command != nil && len(c.Command.Subcommands) > 0 {
		where, cmds = c.Command.HelpName, c.Command.Subcommands
	}
	return unknownCommandError(cmds, where, c.Args().First())
}

// unknownCommandError says that where has no command given, and names the
// nearest of cmds: exit code 2.
func unknownCommandError(cmds []*cli.Command, where, given string) error {
	msg := fmt.Sprintf("no command %q", given)
	if where != "imtool" {
		msg = fmt.Sprintf("%s has no command %q", subject(where), given)
	}
	if s := nearestCommand(cmds, given); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return usageError(errors.New(msg + " (see " + where + " --help)"))
}

// subject names a command in an error that run() prefixes with "imtool:".
func subject(helpName string) string {
	if s, ok := strings.CutPrefix(helpName, "imtool "); ok {
		return s
	}
	return "imtool"
}

// nearestCommand is urfave/cli's suggestion, without its sentence.
func nearestCommand(cmds []*cli.Command, given string) string {
	if cli.SuggestCommand == nil {
		return ""
	}
	var visible []*cli.Command
	for _, c := range cmds {
		if !c.Hidden && c.Name != "help" {
			visible = append(visible, c)
		}
	}
	s := cli.SuggestCommand(visible, given)
	var name string
	if _, err := fmt.Sscanf(s, cli.SuggestDidYouMeanTemplate, &name); err == nil && name != "help" && name != "h" {
		return name
	}
	return ""
}

// applyUsageRules gives every command the same handling of bad flags and
// unknown subcommands.
func applyUsageRules(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		if c.Action == nil && len(c.Subcommands) > 0 {
			c.Action = unknownCommand
		}
		applyUsageRules(c.Subcommands)
	}
}
