package main

import "github.com/spf13/cobra"

// clientCommands are the client subcommands (pool, job, task).
func clientCommands(getenv func(string) string) []*cobra.Command { return nil }
