package main

import "github.com/urfave/cli/v2"

// commands lists every sub-command; each is defined in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		benchCommand(),
		serverCommand(),
		dispatcherCommand(),
		dashCommand(),
		swarmCommand(),
		agentCommand(),
		tuneCommand(),
		planCommand(),
		reportCommand(),
	}
}
