package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
)

func newTaskCmd(getenv func(string) string) *cobra.Command {
	env := newClientEnv(getenv)
	cmd := &cobra.Command{Use: "task", Short: "Add, list and inspect the tasks of a job"}
	env.register(cmd)
	cmd.AddCommand(taskAddCmd(env), taskListCmd(env), taskShowCmd(env), taskLogsCmd(env),
		taskTerminateCmd(env), taskDeleteCmd(env))
	return cmd
}

// taskAddFlags are the options of task add.
type taskAddFlags struct {
	commandLine  string
	fromJSON     string
	count        int
	maxRetries   int
	maxWallClock string
	env          []string
	dependsOn    []string
	dependsRange []string
}

func taskAddCmd(env *clientEnv) *cobra.Command {
	var f taskAddFlags
	cmd := &cobra.Command{
		Use:   "add JOB [ID] (-- COMMAND [ARG…] | --command-line LINE | --from-json FILE)",
		Short: "Add tasks to a job",
		Example: `  natch task add job1 -- python3 render.py --frame 1
  natch task add job1 t1 --command-line "sh -c 'echo hi > out.txt'" --env MODE=fast
  natch task add job1 demo --count 100 -- sleep 1        # demo-1 … demo-100
  natch task add job1 --from-json tasks.json            # one task or an array`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := env.json()
			if err != nil {
				return err
			}
			pos, words := args, []string(nil)
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				pos, words = args[:dash], args[dash:]
			}
			if len(pos) < 1 || len(pos) > 2 {
				return errors.New("task add: want JOB [ID] before the --")
			}
			tasks, many, err := f.build(cmd, pos, words)
			if err != nil {
				return err
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			if !many {
				return addOne(cmd, c, pos[0], &tasks[0], asJSON)
			}
			return addMany(cmd, c, pos[0], tasks, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.commandLine, "command-line", "", "the task's command line (instead of -- COMMAND…)")
	fl.StringVar(&f.fromJSON, "from-json", "", "read a task or an array of tasks (Azure TaskAddParameter JSON) from a file, - for stdin")
	fl.IntVar(&f.count, "count", 1, "add this many copies, with ids <ID>-1 … <ID>-N (ID defaults to \"task\")")
	fl.IntVar(&f.maxRetries, "max-retries", 0, "retries of a task that exits non-zero (-1: unlimited; default: the job's)")
	fl.StringVar(&f.maxWallClock, "max-wall-clock", "", "longest the task may run, e.g. 30m or PT30M")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable NAME=VALUE for the task (repeatable)")
	fl.StringArrayVar(&f.dependsOn, "depends-on", nil, "a task id this task waits for (repeatable; the job needs --uses-task-dependencies)")
	fl.StringArrayVar(&f.dependsRange, "depends-on-range", nil, "an inclusive range START-END of integer task ids this task waits for (repeatable)")
	return cmd
}

// build turns the arguments and flags into the tasks to add; many says
// they go through addtaskcollection (a --from-json array, or --count > 1).
func (f *taskAddFlags) build(cmd *cobra.Command, pos, words []string) (tasks []batch.Task, many bool, err error) {
	if f.fromJSON != "" {
		if len(words) > 0 || f.commandLine != "" || f.count != 1 || len(pos) > 1 {
			return nil, false, errors.New("task add: --from-json takes the tasks from the file: give only JOB")
		}
		data, err := readJSONFile(cmd, f.fromJSON)
		if err != nil {
			return nil, false, err
		}
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
			if err := decodeJSON(f.fromJSON, data, &tasks); err != nil {
				return nil, false, err
			}
			if len(tasks) == 0 {
				return nil, false, fmt.Errorf("task add: %s holds no tasks", f.fromJSON)
			}
			return tasks, true, nil
		}
		var t batch.Task
		if err := decodeJSON(f.fromJSON, data, &t); err != nil {
			return nil, false, err
		}
		return []batch.Task{t}, false, nil
	}
	line := f.commandLine
	switch {
	case line != "" && len(words) > 0:
		return nil, false, errors.New("task add: give the command either after -- or with --command-line, not both")
	case len(words) > 0:
		line = shellJoin(words)
	case line == "":
		return nil, false, errors.New("task add: no command: use -- COMMAND [ARG…], --command-line or --from-json")
	}
	if f.count < 1 {
		return nil, false, errors.New("task add: --count must be at least 1")
	}
	t := batch.Task{CommandLine: line}
	flags := cmd.Flags()
	if flags.Changed("max-retries") || f.maxWallClock != "" {
		t.Constraints = &batch.TaskConstraints{}
		if flags.Changed("max-retries") {
			t.Constraints.MaxTaskRetryCount = batch.Int(f.maxRetries)
		}
		if f.maxWallClock != "" {
			d, err := parseDuration(f.maxWallClock)
			if err != nil {
				return nil, false, fmt.Errorf("task add: --max-wall-clock: %w", err)
			}
			t.Constraints.MaxWallClockTime = d
		}
	}
	if len(f.dependsOn) > 0 || len(f.dependsRange) > 0 {
		t.DependsOn = &batch.TaskDependencies{TaskIDs: f.dependsOn}
		for _, r := range f.dependsRange {
			a, b, ok := strings.Cut(r, "-")
			start, err1 := strconv.Atoi(a)
			end, err2 := strconv.Atoi(b)
			if !ok || err1 != nil || err2 != nil {
				return nil, false, fmt.Errorf("task add: --depends-on-range %q: want START-END, e.g. 1-100", r)
			}
			t.DependsOn.TaskIDRanges = append(t.DependsOn.TaskIDRanges, batch.TaskIDRange{Start: start, End: end})
		}
	}
	for _, kv := range f.env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, false, fmt.Errorf("task add: --env %q: want NAME=VALUE", kv)
		}
		t.EnvironmentSettings = append(t.EnvironmentSettings, batch.NameValue{Name: name, Value: value})
	}
	id := ""
	if len(pos) == 2 {
		id = pos[1]
	}
	if f.count == 1 {
		t.ID = id
		if t.ID == "" {
			t.ID = autoTaskID()
		}
		return []batch.Task{t}, false, nil
	}
	prefix := id
	if prefix == "" {
		prefix = "task"
	}
	tasks = make([]batch.Task, f.count)
	for i := range tasks {
		tasks[i] = t
		tasks[i].ID = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return tasks, true, nil
}

// autoTaskID is a fresh task id: task-<UTC time>-<random>.
func autoTaskID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "task-" + time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// shellJoin joins command words into a command line, single-quoting the
// words that need it so that the worker splits the line back into the same
// words (POSIX shell rules).
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellQuote(w)
	}
	return strings.Join(out, " ")
}

func shellQuote(w string) string {
	if w == "" {
		return "''"
	}
	safe := true
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%^", r)) {
			safe = false
			break
		}
	}
	if safe {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
}

func addOne(cmd *cobra.Command, c *producer.Client, jobID string, t *batch.Task, asJSON bool) error {
	ctx := cmd.Context()
	if err := c.AddTask(ctx, jobID, t); err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(cmd.OutOrStdout(), "added task %s to job %s\n", t.ID, jobID)
		return nil
	}
	got, err := c.GetTask(ctx, jobID, t.ID)
	if err != nil {
		return err
	}
	return printJSON(cmd.OutOrStdout(), got)
}

func addMany(cmd *cobra.Command, c *producer.Client, jobID string, tasks []batch.Task, asJSON bool) error {
	results, err := c.AddTasks(cmd.Context(), jobID, tasks)
	if err != nil && results == nil {
		return err
	}
	var failed []batch.TaskAddResult
	for _, r := range results {
		if producer.AddError(r) != nil {
			failed = append(failed, r)
		}
	}
	out := cmd.OutOrStdout()
	if asJSON {
		if err := printJSON(out, results); err != nil {
			return err
		}
	} else {
		if len(failed) > 0 {
			tw := table(out)
			row(tw, "TASK", "STATUS", "ERROR")
			for _, r := range failed {
				row(tw, r.TaskID, r.Status, apiError{producer.AddError(r)}.Error())
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "added %d of %d tasks to job %s\n", len(results)-len(failed), len(tasks), jobID)
	}
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d tasks were not added", len(failed), len(tasks))
	}
	return nil
}

func taskListCmd(env *clientEnv) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "list JOB",
		Short: "List the tasks of a job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := env.json()
			if err != nil {
				return err
			}
			var opts *producer.ListOptions
			if state != "" {
				switch state {
				case batch.TaskActive, batch.TaskPreparing, batch.TaskRunning, batch.TaskCompleted:
				default:
					return fmt.Errorf("task list: unknown --state %q (want active, preparing, running or completed)", state)
				}
				opts = &producer.ListOptions{Filter: "state eq '" + state + "'"}
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			tasks, err := c.ListTasks(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), tasks)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID", "STATE", "EXIT", "RETRIES", "NODE", "WAITING")
			for _, t := range tasks {
				exit, retries, node, waiting := "-", 0, "-", "-"
				if t.WaitReason != nil {
					waiting = t.WaitReason.Code
				}
				if ei := t.ExecutionInfo; ei != nil {
					exit, retries = intOrDash(ei.ExitCode), ei.RetryCount
				}
				if t.NodeInfo != nil {
					node = orDash(t.NodeInfo.NodeID)
				}
				row(tw, t.ID, orDash(t.State), exit, retries, node, waiting)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only tasks in this state: active, preparing, running or completed")
	return cmd
}

func taskShowCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "show JOB TASK",
		Short: "Show a task",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			t, err := c.GetTask(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), t)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID:", t.ID)
			row(tw, "State:", orDash(t.State))
			if t.WaitReason != nil {
				row(tw, "Waiting:", t.WaitReason.Message)
			}
			row(tw, "Command line:", t.CommandLine)
			for _, e := range t.EnvironmentSettings {
				row(tw, "Environment:", e.Name+"="+e.Value)
			}
			if t.Constraints != nil {
				row(tw, "Max retries:", intOrDash(t.Constraints.MaxTaskRetryCount))
				if d := t.Constraints.MaxWallClockTime; d != nil && !d.IsInfinite() {
					row(tw, "Max wall clock:", d.Std().String())
				}
			}
			row(tw, "Created:", timeOrDash(t.CreationTime))
			if ei := t.ExecutionInfo; ei != nil {
				row(tw, "Started:", timeOrDash(ei.StartTime))
				row(tw, "Ended:", timeOrDash(ei.EndTime))
				row(tw, "Exit code:", intOrDash(ei.ExitCode))
				row(tw, "Result:", orDash(ei.Result))
				row(tw, "Retries:", ei.RetryCount)
				row(tw, "Requeues:", ei.RequeueCount)
				if fi := ei.FailureInfo; fi != nil {
					row(tw, "Failure:", fi.Code+": "+fi.Message+" ("+fi.Category+")")
				}
			}
			if t.NodeInfo != nil {
				row(tw, "Node:", orDash(t.NodeInfo.PoolID)+"/"+orDash(t.NodeInfo.NodeID))
			}
			return tw.Flush()
		},
	}
}

func taskLogsCmd(env *clientEnv) *cobra.Command {
	var stderr bool
	cmd := &cobra.Command{
		Use:   "logs JOB TASK",
		Short: "Print a task's stdout (or stderr)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			name := "stdout.txt"
			if stderr {
				name = "stderr.txt"
			}
			return c.GetTaskFile(cmd.Context(), args[0], args[1], name, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&stderr, "stderr", false, "print stderr.txt instead of stdout.txt")
	return cmd
}

func taskTerminateCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "terminate JOB TASK",
		Short: "End a task",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.TerminateTask(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "terminated task %s of job %s\n", args[1], args[0])
			return nil
		},
	}
}

func taskDeleteCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "delete JOB TASK",
		Short: "Delete a task",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.DeleteTask(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted task %s of job %s\n", args[1], args[0])
			return nil
		},
	}
}
