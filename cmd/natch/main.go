// Command natch is the natch batch-compute service and its client: one binary
// whose subcommands run the embedded all-in-one service (up), the production
// components (dispatcher, scaler, worker) and the client commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// natch's services keep little live heap and allocate a lot per task:
	// collecting half as often costs a little memory and saves CPU on the
	// dispatch path. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "natch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	root := newRootCmd(getenv)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRootCmd builds the natch command with every subcommand; flag defaults
// come from getenv.
func newRootCmd(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:           "natch",
		Short:         "natch: Azure Batch's model and API on NATS JetStream",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newUpCmd(getenv),
		newDispatcherCmd(getenv),
		newScalerCmd(getenv),
		newWorkerCmd(getenv),
		newAccountCmd(getenv),
	)
	root.AddCommand(clientCommands(getenv)...)
	return root
}
