package main

import (
	"fmt"
	"strconv"

	"github.com/imtool/imtool/internal/portspec"
	"github.com/urfave/cli/v2"
)

// portFlags are --ports and --base-port, read the same way by every command.
func portFlags(usage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ports", Value: "20", Usage: usage + ": " + portspec.Usage},
		&cli.IntFlag{Name: "base-port", Value: 9000, Usage: "first port when --ports is a count"},
	}
}

func parsePorts(c *cli.Context) ([]uint16, error) {
	return portspec.ParseFlag("ports", c.String("ports"), "base-port", c.Int("base-port"))
}

// parseProcs reads --procs: "auto" (0 is returned) or a count ≥ 1.
func parseProcs(s string) (auto bool, n int, err error) {
	if s == "auto" {
		return true, 0, nil
	}
	n, err = strconv.Atoi(s)
	if err != nil || n < 1 {
		return false, 0, fmt.Errorf("--procs %q: give auto or a number of processes ≥ 1", s)
	}
	return false, n, nil
}
