package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newNodeCmd is `natch node`: commands on one compute node.
func newNodeCmd(getenv func(string) string) *cobra.Command {
	env := newClientEnv(getenv)
	cmd := &cobra.Command{Use: "node", Short: "Act on a pool's compute nodes"}
	env.register(cmd)
	cmd.AddCommand(nodePreemptCmd(env))
	return cmd
}

func nodePreemptCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "preempt POOL NODE",
		Short: "Evict a low-priority node as a spot eviction would (natch only)",
		Long: `Evict a low-priority node as Azure evicts a spot VM: the node turns
preempted and its agent is killed, its running tasks go back to the queue
(their requeueCount grows, not their retryCount), and the scaler starts a
replacement, since the pool's low-priority target stays. Dedicated nodes
cannot be preempted.`,
		Example: "  natch node preempt pool1 tvmps_0123456789abcdef01234567_p",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.PreemptNode(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "preempting node %s of pool %s\n", args[1], args[0])
			return nil
		},
	}
}
