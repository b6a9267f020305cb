package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natch-io/natch/shared/batch"
)

func newPoolCmd(getenv func(string) string) *cobra.Command {
	env := newClientEnv(getenv)
	cmd := &cobra.Command{Use: "pool", Short: "Create, list, resize and delete pools of compute nodes"}
	env.register(cmd)
	cmd.AddCommand(poolCreateCmd(env), poolListCmd(env), poolShowCmd(env), poolResizeCmd(env),
		poolDeleteCmd(env), poolNodesCmd(env), poolStopResizeCmd(env))
	return cmd
}

func poolCreateCmd(env *clientEnv) *cobra.Command {
	var (
		vmSize   string
		nodes    int
		slots    int
		fromJSON string
	)
	cmd := &cobra.Command{
		Use:   "create [ID]",
		Short: "Create a pool",
		Example: `  natch pool create pool1 --nodes 2 --slots 4
  natch pool create --from-json pool.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := env.json()
			if err != nil {
				return err
			}
			p := &batch.Pool{}
			if fromJSON != "" {
				data, err := readJSONFile(cmd, fromJSON)
				if err != nil {
					return err
				}
				if err := decodeJSON(fromJSON, data, p); err != nil {
					return err
				}
			}
			if len(args) == 1 {
				p.ID = args[0]
			}
			if p.ID == "" {
				return errors.New("pool create: give the pool an ID (or an \"id\" in --from-json)")
			}
			f := cmd.Flags()
			if fromJSON == "" || f.Changed("vm-size") {
				p.VMSize = vmSize
			}
			if fromJSON == "" || f.Changed("nodes") {
				p.TargetDedicatedNodes = batch.Int(nodes)
			}
			if fromJSON == "" || f.Changed("slots") {
				p.TaskSlotsPerNode = batch.Int(slots)
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.AddPool(ctx, p); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "created pool %s\n", p.ID)
				return nil
			}
			got, err := c.GetPool(ctx, p.ID)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), got)
		},
	}
	cmd.Flags().StringVar(&vmSize, "vm-size", "standard_d2s_v3", "VM size of the nodes")
	cmd.Flags().IntVar(&nodes, "nodes", 1, "target number of dedicated nodes")
	cmd.Flags().IntVar(&slots, "slots", 1, "task slots per node (tasks a node runs at once)")
	cmd.Flags().StringVar(&fromJSON, "from-json", "", "read the pool (Azure PoolAddParameter JSON) from a file, - for stdin; flags given override it")
	return cmd
}

func poolListCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List pools",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			pools, err := c.ListPools(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), pools)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID", "STATE", "ALLOC", "NODES", "SLOTS", "VMSIZE")
			for _, p := range pools {
				row(tw, p.ID, orDash(p.State), orDash(p.AllocationState), poolNodes(&p), intOrDash(p.TaskSlotsPerNode), orDash(p.VMSize))
			}
			return tw.Flush()
		},
	}
}

// poolNodes renders current/target nodes, dedicated and low-priority together.
func poolNodes(p *batch.Pool) string {
	cur := batch.IntOr(p.CurrentDedicatedNodes, 0) + batch.IntOr(p.CurrentLowPriorityNodes, 0)
	target := batch.IntOr(p.TargetDedicatedNodes, 0) + batch.IntOr(p.TargetLowPriorityNodes, 0)
	if p.EnableAutoScale != nil && *p.EnableAutoScale && p.TargetDedicatedNodes == nil {
		return fmt.Sprintf("%d/auto", cur)
	}
	return fmt.Sprintf("%d/%d", cur, target)
}

func poolShowCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a pool",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			p, err := c.GetPool(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID:", p.ID)
			row(tw, "State:", orDash(p.State))
			row(tw, "Allocation:", orDash(p.AllocationState))
			row(tw, "VM size:", orDash(p.VMSize))
			row(tw, "Nodes (current/target):", poolNodes(p))
			row(tw, "Dedicated:", intOrDash(p.CurrentDedicatedNodes)+"/"+intOrDash(p.TargetDedicatedNodes))
			row(tw, "Low-priority:", intOrDash(p.CurrentLowPriorityNodes)+"/"+intOrDash(p.TargetLowPriorityNodes))
			row(tw, "Slots per node:", intOrDash(p.TaskSlotsPerNode))
			if p.EnableAutoScale != nil && *p.EnableAutoScale {
				row(tw, "Autoscale formula:", p.AutoScaleFormula)
			}
			for _, e := range p.ResizeErrors {
				row(tw, "Resize error:", e.Code+": "+e.Message)
			}
			row(tw, "Created:", timeOrDash(p.CreationTime))
			return tw.Flush()
		},
	}
}

func poolResizeCmd(env *clientEnv) *cobra.Command {
	var nodes, lowPriority int
	var deallocation string
	cmd := &cobra.Command{
		Use:     "resize ID --nodes N",
		Short:   "Change a pool's target node counts",
		Example: "  natch pool resize pool1 --nodes 4 --low-priority 2",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := &batch.PoolResize{TargetDedicatedNodes: batch.Int(nodes), NodeDeallocationOption: deallocation}
			if cmd.Flags().Changed("low-priority") {
				r.TargetLowPriorityNodes = batch.Int(lowPriority)
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.ResizePool(cmd.Context(), args[0], r); err != nil {
				return err
			}
			msg := fmt.Sprintf("resizing pool %s to %d dedicated", args[0], nodes)
			if r.TargetLowPriorityNodes != nil {
				msg += fmt.Sprintf(" and %d low-priority", lowPriority)
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg+" nodes")
			return nil
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 0, "target number of dedicated nodes")
	cmd.Flags().IntVar(&lowPriority, "low-priority", 0, "target number of low-priority nodes")
	cmd.Flags().StringVar(&deallocation, "deallocation", "", "what happens to running tasks of removed nodes: requeue, terminate, taskcompletion or retaineddata")
	_ = cmd.MarkFlagRequired("nodes")
	return cmd
}

func poolDeleteCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a pool and its nodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.DeletePool(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleting pool %s\n", args[0])
			return nil
		},
	}
}

func poolNodesCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes ID",
		Short: "List a pool's compute nodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			nodes, err := c.ListNodes(cmd.Context(), args[0], nil)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), nodes)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID", "STATE", "SCHEDULING", "RUNNING", "TASKS RUN", "IP")
			for _, n := range nodes {
				row(tw, n.ID, orDash(n.State), orDash(n.SchedulingState), n.RunningTasksCount, n.TotalTasksRun, orDash(n.IPAddress))
			}
			return tw.Flush()
		},
	}
}
