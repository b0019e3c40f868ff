package main

import (
	"errors"
	"os"
	"strings"

	"github.com/imtool/imtool/internal/portspec"
	"github.com/imtool/imtool/tuner"
	"github.com/urfave/cli/v2"
)

// targetFlags describe what the host must carry; check, apply and script share them.
func targetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "role", Value: "both", Usage: "which end this host carries: server, client, or both (both ends on one host, e.g. over loopback)"},
		&cli.IntFlag{Name: "conns", Value: 1000000, Usage: "connections the host must hold (per host, not per process)"},
		&cli.StringFlag{Name: "ports", Value: "20", Usage: "the server's listening ports: " + portspec.Usage},
		&cli.IntFlag{Name: "base-port", Value: 9000, Usage: "first port when --ports is a count"},
		&cli.IntFlag{Name: "source-ips", Value: 1, Usage: "source addresses each client host connects from (S)"},
		&cli.IntFlag{Name: "server-ips", Value: 1, Usage: "server addresses the clients spread over (D)"},
		&cli.Float64Flag{Name: "headroom", Value: tuner.DefaultHeadroom, Usage: "margin on connection counts when sizing descriptor and table limits"},
	}
}

func rootFlag() cli.Flag {
	return &cli.StringFlag{Name: "root", Value: "/", Usage: "read and write every path (/proc, /etc, /var/lib) under this directory, e.g. a fixture tree"}
}

// hostFlags name the host being tuned; check and apply share them.
func hostFlags() []cli.Flag {
	return []cli.Flag{
		rootFlag(),
		&cli.StringFlag{Name: "service", Usage: "also check (and with apply, write) LimitNOFILE in a systemd drop-in for this unit"},
		&cli.BoolFlag{Name: "legacy-registry", Usage: "Windows: check and write the pre-Vista Tcpip\\Parameters values (MaxUserPort, …), which today's Windows ignores"},
	}
}

func targetFromFlags(c *cli.Context) (tuner.Target, error) {
	ports, err := portspec.ParseFlag("ports", c.String("ports"), "base-port", c.Int("base-port"))
	if err != nil {
		return tuner.Target{}, err
	}
	t := tuner.Target{Role: tuner.Role(c.String("role")), Conns: c.Int("conns"), Ports: ports,
		SourceIPs: c.Int("source-ips"), ServerIPs: c.Int("server-ips"), Headroom: c.Float64("headroom")}
	return t, t.Validate()
}

func tuneOptions(c *cli.Context) (tuner.Options, error) {
	t, err := targetFromFlags(c)
	var scopes []tuner.Scope
	for _, s := range strings.Split(c.String("scope"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, tuner.Scope(s))
		}
	}
	return tuner.Options{Root: c.String("root"), Target: t, Service: c.String("service"), Scopes: scopes,
		LiveOnly: c.Bool("live-only"), PersistOnly: c.Bool("persist-only"), LegacyRegistry: c.Bool("legacy-registry"),
		Yes: c.Bool("yes"), In: os.Stdin, Out: c.App.Writer}, err
}

func tuneCommand() *cli.Command {
	return &cli.Command{
		Name:  "tune",
		Usage: "check, apply and revert the OS settings a target number of connections needs",
		Description: "Requirements are computed from the target (role, connections, ports, source and\n" +
			"server IPs), never fixed numbers, and a value that already satisfies them is never\n" +
			"lowered. `check` explains each setting; `apply` changes only what fails, after saving\n" +
			"the previous state; `revert` restores that state exactly; `script` prints a shell or\n" +
			"PowerShell script for hosts without imtool." + tuneExitStatus,
		Subcommands: []*cli.Command{tuneCheckCommand(), tuneApplyCommand(), tuneRevertCommand(), tuneScriptCommand()},
	}
}

func tuneCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "report every setting against the target (exit 0 all ok, 1 something needs tuning, 3 could not check)",
		Description: "One row per setting: scope (host, netns, process), the live value, the persisted value\n" +
			"and the file it comes from, the requirement, a status (ok, low, missing, read-only,\n" +
			"unsupported), what a change needs to take effect and why the setting matters. Below the\n" +
			"table: what a new process gets (RLIMIT_NOFILE, and whether its hard limit can be raised\n" +
			"or --procs is needed), the network namespace, a read-only /proc/sys, conntrack, and the\n" +
			"client capacity S·D·P·R. Nothing is changed." +
			exitStatus("0 every setting is ok", "1 something needs tuning (imtool tune apply does it)", exitUsageLine, "3 could not check (the reason is printed)"),
		Flags: append(append(targetFlags(), hostFlags()...),
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"}),
		Action: func(c *cli.Context) error {
			o, err := tuneOptions(c)
			if err != nil {
				return usageError(err)
			}
			rep, err := tuner.Check(o)
			if err != nil {
				return failed(err)
			}
			if c.Bool("json") {
				err = rep.WriteJSON(c.App.Writer)
			} else {
				err = rep.WriteText(c.App.Writer)
			}
			if err != nil {
				return failed(err)
			}
			return tuneExit(rep.ExitCode())
		},
	}
}

func tuneApplyCommand() *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "change what check finds short, after saving the previous state (exit 0 ok now, 1 still short, 3 error)",
		Description: "Shows the changes and asks unless --yes. Sets live values and persists them to files\n" +
			"imtool owns: /etc/sysctl.d/90-imtool.conf, /etc/security/limits.d/90-imtool.conf and,\n" +
			"with --service, /etc/systemd/system/UNIT.d/90-imtool.conf. Before the first change it\n" +
			"saves live values and files (recording absent ones) in /var/lib/imtool/tune-backup.json;\n" +
			"a later apply keeps that snapshot and only adds what it did not cover. A setting that\n" +
			"cannot be written is reported with its fix and does not stop the others. It warns when\n" +
			"a file read later at boot (a later sysctl.d file, /etc/sysctl.conf) overrides imtool's,\n" +
			"then checks again and says what still needs a re-login, restart or reboot." +
			exitStatus("0 the host now satisfies the target", "1 still short, or the question was answered no (nothing changed)",
				exitUsageLine, "3 could not apply (the reason is printed; a failed apply leaves the old state)"),
		Flags: append(append(targetFlags(), hostFlags()...),
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "apply without asking"},
			&cli.BoolFlag{Name: "live-only", Usage: "set live values only; write no files (lost at reboot)"},
			&cli.BoolFlag{Name: "persist-only", Usage: "write the files only; live values change at the next boot or login"},
			&cli.StringFlag{Name: "scope", Usage: "change only settings of these scopes, comma-separated: host, netns, process (e.g. netns inside a container)"},
			&cli.BoolFlag{Name: "json", Usage: "print what was done as JSON (needs --yes)"},
		),
		Action: func(c *cli.Context) error {
			o, err := tuneOptions(c)
			if err != nil {
				return usageError(err)
			}
			if c.Bool("json") && !o.Yes {
				return usageError(errors.New("--json needs --yes: apply asks its question on stdout, which --json keeps for the JSON"))
			}
			if o.LiveOnly && o.PersistOnly {
				return usageError(errors.New("--live-only and --persist-only exclude each other: give one"))
			}
			res, err := tuner.Apply(o)
			if errors.Is(err, tuner.ErrDeclined) {
				return cli.Exit(err.Error(), exitShort)
			}
			if err != nil {
				return failed(err)
			}
			if c.Bool("json") {
				err = res.WriteJSON(c.App.Writer)
			} else {
				err = res.WriteText(c.App.Writer)
			}
			if err != nil {
				return failed(err)
			}
			return tuneExit(res.ExitCode())
		},
	}
}

func tuneRevertCommand() *cli.Command {
	return &cli.Command{
		Name:  "revert",
		Usage: "restore the state saved by the first apply, exactly, and remove the snapshot",
		Description: "Writes back the saved live values and files, deletes the files and directories imtool\n" +
			"created, then removes /var/lib/imtool/tune-backup.json. A live value or file changed\n" +
			"since apply (by hand, or by another tool) is kept as it is and listed as KEPT; --force\n" +
			"restores it too, after copying an edited file to FILE.edited-TIME. Without a snapshot it\n" +
			"does nothing, so running it twice is harmless." +
			exitStatus("0 restored (or nothing to restore)", "1 something kept or not restored (the snapshot stays)", exitUsageLine, "3 error"),
		Flags: []cli.Flag{rootFlag(),
			&cli.BoolFlag{Name: "force", Usage: "also restore what was changed since apply (an edited file is copied aside first)"}},
		Action: func(c *cli.Context) error {
			res, err := tuner.Revert(tuner.Options{Root: c.String("root"), Force: c.Bool("force")})
			if err != nil {
				return failed(err)
			}
			if err := res.WriteText(c.App.Writer); err != nil {
				return failed(err)
			}
			return tuneExit(res.ExitCode())
		},
	}
}

func tuneScriptCommand() *cli.Command {
	return &cli.Command{
		Name:  "script",
		Usage: "print a shell or PowerShell script that does what apply does, for hosts without imtool",
		Description: "--os linux prints a POSIX shell script (raise sysctls only when lower, widen the port\n" +
			"range, reserve the server ports, write limits.d, save an undo script first).\n" +
			"--os windows prints a PowerShell script that widens the TCP dynamic port range when its\n" +
			"usable part (minus excluded ranges) is too small. Review it before running it." +
			exitStatus("0 the script was printed", exitUsageLine),
		Flags: append(targetFlags(),
			&cli.StringFlag{Name: "os", Value: "linux", Usage: "the target host's OS: linux or windows"}),
		Action: func(c *cli.Context) error {
			t, err := targetFromFlags(c)
			if err != nil {
				return usageError(err)
			}
			if err := tuner.Script(c.App.Writer, c.String("os"), t); err != nil {
				return usageError(err)
			}
			return nil
		},
	}
}

// tuneExitStatus is the exit status every tune command shares.
const tuneExitStatus = "\n\nEXIT STATUS (check, apply, revert): 0 ok; 1 the host needs tuning, is still short, or\n" +
	"could not be fully restored; 2 bad flags; 3 could not do it. See each command's --help."

// tuneExit turns the tuner's "not satisfied" (2) into imtool's "the answer
// is no" (1): 2 is every command's exit code for bad flags.
func tuneExit(code int) error {
	if code != 0 {
		code = exitShort
	}
	return exitCode(code)
}
