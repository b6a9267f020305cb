package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
)

func newJobCmd(getenv func(string) string) *cobra.Command {
	env := newClientEnv(getenv)
	cmd := &cobra.Command{Use: "job", Short: "Create, list, wait for, terminate and delete jobs"}
	env.register(cmd)
	cmd.AddCommand(jobCreateCmd(env), jobListCmd(env), jobShowCmd(env), jobTerminateCmd(env),
		jobDeleteCmd(env), jobWaitCmd(env))
	return cmd
}

func jobCreateCmd(env *clientEnv) *cobra.Command {
	var (
		pool                string
		terminateOnComplete bool
		maxRetries          int
		fromJSON            string
		dependencies        bool
		priority            int
		maxParallel         int
	)
	cmd := &cobra.Command{
		Use:   "create ID --pool POOL",
		Short: "Create a job on a pool",
		Example: `  natch job create job1 --pool pool1 --max-retries 2 --terminate-on-complete
  natch job create --from-json job.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := env.json()
			if err != nil {
				return err
			}
			j := &batch.Job{}
			if fromJSON != "" {
				data, err := readJSONFile(cmd, fromJSON)
				if err != nil {
					return err
				}
				if err := decodeJSON(fromJSON, data, j); err != nil {
					return err
				}
			}
			if len(args) == 1 {
				j.ID = args[0]
			}
			if j.ID == "" {
				return errors.New("job create: give the job an ID (or an \"id\" in --from-json)")
			}
			f := cmd.Flags()
			if pool != "" {
				j.PoolInfo = &batch.PoolInformation{PoolID: pool}
			}
			if j.PoolInfo == nil {
				return errors.New("job create: --pool is required")
			}
			if terminateOnComplete {
				j.OnAllTasksComplete = batch.OnAllTasksTerminate
			}
			if dependencies {
				j.UsesTaskDependencies = batch.Bool(true)
			}
			if f.Changed("priority") {
				j.Priority = batch.Int(priority)
			}
			if f.Changed("max-parallel-tasks") {
				j.MaxParallelTasks = batch.Int(maxParallel)
			}
			if f.Changed("max-retries") {
				if j.Constraints == nil {
					j.Constraints = &batch.JobConstraints{}
				}
				j.Constraints.MaxTaskRetryCount = batch.Int(maxRetries)
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.AddJob(ctx, j); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "created job %s on pool %s\n", j.ID, j.PoolInfo.PoolID)
				return nil
			}
			got, err := c.GetJob(ctx, j.ID)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), got)
		},
	}
	cmd.Flags().StringVar(&pool, "pool", "", "pool the job's tasks run on")
	cmd.Flags().BoolVar(&terminateOnComplete, "terminate-on-complete", false, "complete the job when all its tasks are complete (onAllTasksComplete=terminatejob)")
	cmd.Flags().IntVar(&maxRetries, "max-retries", 0, "default retries of a task that exits non-zero (-1: unlimited)")
	cmd.Flags().BoolVar(&dependencies, "uses-task-dependencies", false, "let the job's tasks depend on each other (task add --depends-on)")
	cmd.Flags().IntVar(&priority, "priority", 0, "job priority, -1000 to 1000: in a pool, higher-priority jobs' tasks run first")
	cmd.Flags().IntVar(&maxParallel, "max-parallel-tasks", -1, "most of the job's tasks that may run at once (-1: unlimited)")
	cmd.Flags().StringVar(&fromJSON, "from-json", "", "read the job (Azure JobAddParameter JSON) from a file, - for stdin; flags given override it")
	return cmd
}

// jobCounts is a job with its task counts (nil when they could not be read).
type jobCounts struct {
	job    batch.Job
	counts *batch.TaskCounts
}

func jobListCmd(env *clientEnv) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs with their task counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			var opts *producer.ListOptions
			if state != "" {
				opts = &producer.ListOptions{Filter: "state eq '" + state + "'"}
			}
			ctx := cmd.Context()
			jobs, err := c.ListJobs(ctx, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), jobs)
			}
			rows := withCounts(ctx, c, jobs)
			tw := table(cmd.OutOrStdout())
			row(tw, "ID", "STATE", "POOL", "ACTIVE", "RUNNING", "COMPLETED", "FAILED")
			for _, r := range rows {
				pool := ""
				if r.job.PoolInfo != nil {
					pool = r.job.PoolInfo.PoolID
				}
				if r.counts == nil {
					row(tw, r.job.ID, orDash(r.job.State), orDash(pool), "-", "-", "-", "-")
					continue
				}
				row(tw, r.job.ID, orDash(r.job.State), orDash(pool), r.counts.Active, r.counts.Running, r.counts.Completed, r.counts.Failed)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only jobs in this state (active, disabled, terminating, completed, deleting)")
	return cmd
}

// withCounts reads the task counts of each job, a few at a time.
func withCounts(ctx context.Context, c *producer.Client, jobs []batch.Job) []jobCounts {
	out := make([]jobCounts, len(jobs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range jobs {
		out[i].job = jobs[i]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if r, err := c.TaskCounts(ctx, jobs[i].ID); err == nil {
				out[i].counts = &r.TaskCounts
			}
		})
	}
	wg.Wait()
	return out
}

func jobShowCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a job and its task counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			j, err := c.GetJob(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), j)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID:", j.ID)
			row(tw, "State:", orDash(j.State))
			if j.PoolInfo != nil {
				row(tw, "Pool:", orDash(j.PoolInfo.PoolID))
			}
			row(tw, "Priority:", intOrDash(j.Priority))
			if j.Constraints != nil {
				row(tw, "Max task retries:", intOrDash(j.Constraints.MaxTaskRetryCount))
			}
			row(tw, "On all tasks complete:", orDash(j.OnAllTasksComplete))
			row(tw, "Created:", timeOrDash(j.CreationTime))
			if ei := j.ExecutionInfo; ei != nil {
				row(tw, "Ended:", timeOrDash(ei.EndTime))
				if ei.TerminateReason != "" {
					row(tw, "Terminate reason:", ei.TerminateReason)
				}
			}
			if r, err := c.TaskCounts(ctx, j.ID); err == nil {
				tc := r.TaskCounts
				row(tw, "Tasks:", fmt.Sprintf("active %d, running %d, completed %d (succeeded %d, failed %d)",
					tc.Active, tc.Running, tc.Completed, tc.Succeeded, tc.Failed))
			}
			return tw.Flush()
		},
	}
}

func jobTerminateCmd(env *clientEnv) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "terminate ID",
		Short: "Terminate a job: end its running tasks and complete it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.TerminateJob(cmd.Context(), args[0], reason); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "terminating job %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "terminate reason recorded on the job")
	return cmd
}

func jobDeleteCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a job and its tasks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.DeleteJob(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleting job %s\n", args[0])
			return nil
		},
	}
}
