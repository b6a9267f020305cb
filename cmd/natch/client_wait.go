package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
)

// errWaitTimeout is the cause of a job wait's --timeout expiring.
var errWaitTimeout = errors.New("wait timed out")

func jobWaitCmd(env *clientEnv) *cobra.Command {
	var (
		timeout, interval time.Duration
		failOnError       bool
		progress          string
	)
	cmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait until no task of a job is active or running",
		Long: `Wait polls the job's task counts until none of its tasks is active or running
(and it has at least one task, or the job is completed). On a terminal it shows a
progress bar of completed/total tasks; otherwise it prints a line when the counts
change. With -o json it prints the final task counts.`,
		Example: "  natch job wait job1 --timeout 30m --fail-on-error",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := env.json()
			if err != nil {
				return err
			}
			if interval <= 0 {
				return errors.New("job wait: --interval must be positive")
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
				defer cancel()
			}
			out := cmd.OutOrStdout()
			var view waitView = quietView{}
			switch {
			case asJSON:
			case progress == "bar" || progress == "auto" && isTerminal(out):
				view = newBarView(out, args[0])
			case progress == "lines" || progress == "auto":
				view = &linesView{w: out, job: args[0]}
			default:
				return fmt.Errorf("job wait: unknown --progress %q (want auto, bar or lines)", progress)
			}
			st, err := waitJob(ctx, c, args[0], interval, view)
			if err != nil {
				if errors.Is(context.Cause(ctx), errWaitTimeout) {
					return fmt.Errorf("job %s: timed out after %s with %d active and %d running tasks",
						args[0], timeout, st.counts.Active, st.counts.Running)
				}
				return err
			}
			if asJSON {
				if err := printJSON(out, st.counts); err != nil {
					return err
				}
			}
			if failOnError && st.counts.Failed > 0 {
				return fmt.Errorf("job %s: %d of %d tasks failed", args[0], st.counts.Failed, st.total())
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait forever)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often to poll the task counts")
	cmd.Flags().BoolVar(&failOnError, "fail-on-error", false, "exit non-zero if any task failed")
	cmd.Flags().StringVar(&progress, "progress", "auto", "progress display: auto (a bar on a terminal, lines otherwise), bar or lines")
	return cmd
}

// jobStatus is one poll of a job.
type jobStatus struct {
	state  string
	counts batch.TaskCounts
}

func (s jobStatus) total() int { return s.counts.Active + s.counts.Running + s.counts.Completed }

// done: no task is active or running, and there is at least one task or
// the job is completed (a job terminated before any task was added).
func (s jobStatus) done() bool {
	return s.counts.Active == 0 && s.counts.Running == 0 && (s.total() > 0 || s.state == batch.JobCompleted)
}

// waitJob polls a job until it is done, showing each poll on view. It
// returns the last status, also with an error.
func waitJob(ctx context.Context, c *producer.Client, jobID string, interval time.Duration, view waitView) (jobStatus, error) {
	var st jobStatus
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			view.stop()
			return st, context.Cause(ctx)
		case <-t.C:
		}
		job, err := c.GetJob(ctx, jobID)
		if err != nil {
			view.stop()
			return st, err
		}
		counts, err := c.TaskCounts(ctx, jobID)
		if err != nil {
			view.stop()
			return st, err
		}
		st = jobStatus{state: job.State, counts: counts.TaskCounts}
		view.update(st)
		if st.done() {
			view.stop()
			return st, nil
		}
		t.Reset(interval)
	}
}

// waitView shows the progress of a job wait.
type waitView interface {
	update(st jobStatus)
	stop()
}

type quietView struct{}

func (quietView) update(jobStatus) {}
func (quietView) stop()            {}

// linesView prints a line when the counts change, and at least every
// half minute, for logs and pipes.
type linesView struct {
	w       io.Writer
	job     string
	last    *jobStatus
	printed time.Time
}

func (v *linesView) update(st jobStatus) {
	if v.last != nil && *v.last == st && time.Since(v.printed) < 30*time.Second {
		return
	}
	v.last, v.printed = &st, time.Now()
	c := st.counts
	fmt.Fprintf(v.w, "%s  job %s %s: %d/%d completed (succeeded %d, failed %d), running %d, active %d\n",
		time.Now().Format(time.TimeOnly), v.job, st.state, c.Completed, st.total(), c.Succeeded, c.Failed, c.Running, c.Active)
}

func (v *linesView) stop() {}

// barView draws a live progress bar of completed/total tasks.
type barView struct {
	w   io.Writer
	job string
	bar *progressbar.ProgressBar
}

func newBarView(w io.Writer, job string) *barView {
	return &barView{w: w, job: job, bar: progressbar.NewOptions64(1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("job "+job),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(0),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
	)}
}

func (v *barView) update(st jobStatus) {
	c := st.counts
	total := int64(max(st.total(), 1))
	if v.bar.GetMax64() != total {
		v.bar.ChangeMax64(total)
	}
	v.bar.Describe(fmt.Sprintf("job %s: succeeded %d  failed %d  running %d  active %d", v.job, c.Succeeded, c.Failed, c.Running, c.Active))
	_ = v.bar.Set64(int64(c.Completed))
}

func (v *barView) stop() {
	if !v.bar.IsFinished() {
		_ = v.bar.Exit()
	}
	fmt.Fprintln(v.w)
}
