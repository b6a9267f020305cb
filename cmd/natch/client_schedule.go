package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
)

func newScheduleCmd(getenv func(string) string) *cobra.Command {
	env := newClientEnv(getenv)
	cmd := &cobra.Command{Use: "schedule", Short: "Create, list, show, disable, enable, terminate and delete job schedules"}
	env.register(cmd)
	cmd.AddCommand(scheduleCreateCmd(env), scheduleListCmd(env), scheduleShowCmd(env),
		scheduleActionCmd(env, "disable", "Stop a job schedule from creating jobs", "disabled"),
		scheduleActionCmd(env, "enable", "Let a disabled job schedule create jobs again", "enabled"),
		scheduleActionCmd(env, "terminate", "End a job schedule and terminate its active job", "terminating"),
		scheduleActionCmd(env, "delete", "Delete a job schedule and all its jobs", "deleting"))
	return cmd
}

func scheduleCreateCmd(env *clientEnv) *cobra.Command {
	var fromJSON string
	cmd := &cobra.Command{
		Use:   "create [ID] --from-json FILE",
		Short: "Create a job schedule from an Azure JobScheduleAddParameter JSON file",
		Example: `  natch schedule create nightly --from-json schedule.json
  # schedule.json:
  # {"schedule": {"recurrenceInterval": "PT1H"},
  #  "jobSpecification": {"poolInfo": {"poolId": "pool1"}, "onAllTasksComplete": "terminatejob",
  #                       "jobManagerTask": {"id": "jm", "commandLine": "/bin/sh -c 'echo hi'"}}}`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := env.json()
			if err != nil {
				return err
			}
			if fromJSON == "" {
				return errors.New("schedule create: --from-json is required")
			}
			data, err := readJSONFile(cmd, fromJSON)
			if err != nil {
				return err
			}
			js := &batch.JobSchedule{}
			if err := decodeJSON(fromJSON, data, js); err != nil {
				return err
			}
			if len(args) == 1 {
				js.ID = args[0]
			}
			if js.ID == "" {
				return errors.New("schedule create: give the schedule an ID (or an \"id\" in --from-json)")
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := c.AddJobSchedule(ctx, js); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "created job schedule %s\n", js.ID)
				return nil
			}
			got, err := c.GetJobSchedule(ctx, js.ID)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), got)
		},
	}
	cmd.Flags().StringVar(&fromJSON, "from-json", "", "the job schedule (Azure JobScheduleAddParameter JSON) file, - for stdin")
	return cmd
}

func scheduleListCmd(env *clientEnv) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List job schedules",
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
			list, err := c.ListJobSchedules(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID", "STATE", "EVERY", "NEXT RUN", "RECENT JOB")
			for _, js := range list {
				every, next, recent := "once", "-", "-"
				if js.Schedule != nil && js.Schedule.RecurrenceInterval != nil {
					every = js.Schedule.RecurrenceInterval.Std().String()
				}
				if ei := js.ExecutionInfo; ei != nil {
					next = timeOrDash(ei.NextRunTime)
					if ei.RecentJob != nil {
						recent = ei.RecentJob.ID
					}
				}
				row(tw, js.ID, orDash(js.State), every, next, recent)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only schedules in this state (active, disabled, terminating, completed, deleting)")
	return cmd
}

func scheduleShowCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a job schedule and its jobs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			js, err := c.GetJobSchedule(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), js)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID:", js.ID)
			row(tw, "State:", orDash(js.State))
			if s := js.Schedule; s != nil {
				if s.RecurrenceInterval != nil {
					row(tw, "Every:", s.RecurrenceInterval.String())
				} else {
					row(tw, "Every:", "once")
				}
				row(tw, "Not before:", timeOrDash(s.DoNotRunUntil))
				row(tw, "Not after:", timeOrDash(s.DoNotRunAfter))
				if s.StartWindow != nil {
					row(tw, "Start window:", s.StartWindow.String())
				}
			}
			if spec := js.JobSpecification; spec != nil && spec.PoolInfo != nil {
				row(tw, "Pool:", orDash(spec.PoolInfo.PoolID))
			}
			row(tw, "Created:", timeOrDash(js.CreationTime))
			if ei := js.ExecutionInfo; ei != nil {
				row(tw, "Next run:", timeOrDash(ei.NextRunTime))
				row(tw, "Ended:", timeOrDash(ei.EndTime))
			}
			jobs, err := c.ListScheduleJobs(ctx, js.ID, nil)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				row(tw, "Job:", j.ID+" ("+orDash(j.State)+")")
			}
			return tw.Flush()
		},
	}
}

// scheduleActionCmd is disable, enable, terminate or delete.
func scheduleActionCmd(env *clientEnv, action, short, done string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			ctx, id := cmd.Context(), args[0]
			switch action {
			case "disable":
				err = c.DisableJobSchedule(ctx, id)
			case "enable":
				err = c.EnableJobSchedule(ctx, id)
			case "terminate":
				err = c.TerminateJobSchedule(ctx, id)
			default:
				err = c.DeleteJobSchedule(ctx, id)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "job schedule %s %s\n", id, done)
			return nil
		},
	}
}
