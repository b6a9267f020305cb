package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
)

func newNodeCmd(getenv func(string) string) *cobra.Command {
	env := newClientEnv(getenv)
	cmd := &cobra.Command{Use: "node", Short: "Disable, enable, reboot, reimage, remove and preempt compute nodes"}
	env.register(cmd)
	cmd.AddCommand(
		nodeActionCmd(env, "disable-scheduling", "Stop nodes taking tasks",
			"what happens to their running tasks: requeue, terminate or taskcompletion", "disabled scheduling on",
			func(ctx context.Context, c *producer.Client, pool, node, opt string) error {
				return c.DisableNodeScheduling(ctx, pool, node, opt)
			}),
		nodeActionCmd(env, "enable-scheduling", "Let nodes take tasks again", "", "enabled scheduling on",
			func(ctx context.Context, c *producer.Client, pool, node, _ string) error {
				return c.EnableNodeScheduling(ctx, pool, node)
			}),
		nodeActionCmd(env, "reboot", "Restart the agents of nodes",
			"what happens to their running tasks: requeue, terminate, taskcompletion or retaineddata", "rebooting",
			func(ctx context.Context, c *producer.Client, pool, node, opt string) error {
				return c.RebootNode(ctx, pool, node, opt)
			}),
		nodeActionCmd(env, "reimage", "Restart the agents of nodes with their task directories wiped",
			"what happens to their running tasks: requeue, terminate, taskcompletion or retaineddata", "reimaging",
			func(ctx context.Context, c *producer.Client, pool, node, opt string) error {
				return c.ReimageNode(ctx, pool, node, opt)
			}),
		nodeRemoveCmd(env),
		nodePreemptCmd(env),
	)
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

// nodeAction is one node operation of the CLI.
type nodeAction func(ctx context.Context, c *producer.Client, pool, node, option string) error

// nodeActionCmd is a command that applies act to each node named; with
// optionHelp set it takes --option.
func nodeActionCmd(env *clientEnv, use, short, optionHelp, done string, act nodeAction) *cobra.Command {
	var option string
	cmd := &cobra.Command{
		Use:     use + " POOL NODE...",
		Short:   short,
		Example: "  natch node " + use + " pool1 tvmps_1 tvmps_2",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			pool := args[0]
			for _, node := range args[1:] {
				if err := act(cmd.Context(), c, pool, node, option); err != nil {
					return fmt.Errorf("node %s: %w", node, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s node %s\n", done, node)
			}
			return nil
		},
	}
	if optionHelp != "" {
		cmd.Flags().StringVar(&option, "option", "", optionHelp+" (default requeue)")
	}
	return cmd
}

func nodeRemoveCmd(env *clientEnv) *cobra.Command {
	var deallocation string
	cmd := &cobra.Command{
		Use:     "remove POOL NODE...",
		Short:   "Remove nodes from a pool (its target drops by as many)",
		Example: "  natch node remove pool1 tvmps_1 --deallocation taskcompletion",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			pool, nodes := args[0], args[1:]
			for len(nodes) > 0 {
				n := min(len(nodes), batch.MaxRemoveNodes)
				r := &batch.NodeRemove{NodeList: nodes[:n], NodeDeallocationOption: deallocation}
				if err := c.RemoveNodes(cmd.Context(), pool, r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removing node(s) %s from pool %s\n", strings.Join(nodes[:n], ", "), pool)
				nodes = nodes[n:]
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&deallocation, "deallocation", "", "what happens to the nodes' running tasks: requeue (default), terminate, taskcompletion or retaineddata")
	return cmd
}

func poolStopResizeCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "stop-resize ID",
		Short: "Stop a pool's resize: its targets become the nodes it has",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.StopResizePool(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stopping the resize of pool %s\n", args[0])
			return nil
		},
	}
}
