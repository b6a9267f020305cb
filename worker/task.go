package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker/run"
)

// MsgTaskEnded is the failureInfo message of a task terminated by request
// when the request gives no reason.
const MsgTaskEnded = "The task was terminated by user request."

// runTask runs one held task and settles it. It owns t.slots slot tokens
// and gives them back as soon as the process has ended.
func (w *Worker) runTask(workCtx, settleCtx context.Context, t *task) {
	taskCtx, cancel := context.WithCancelCause(workCtx)
	defer cancel(nil)
	w.mu.Lock()
	t.cancel = cancel
	pending := t.pending
	t.running = true
	w.running++
	w.runningSlots += t.slots
	busy := w.running == 1
	w.mu.Unlock()
	if busy {
		w.pokeRecord()
	}

	var res run.Result
	prepFailed := false
	switch {
	case pending != nil:
		cancel(pending)
		now := time.Now()
		res = run.Result{StartTime: now, EndTime: now, Interrupted: true}
	case taskCtx.Err() != nil:
		now := time.Now()
		res = run.Result{StartTime: now, EndTime: now, Interrupted: true}
	case !w.jobPrep(taskCtx, t): // the job preparation task failed here, or the task was cancelled
		now := time.Now()
		res = run.Result{StartTime: now, EndTime: now, Interrupted: true}
		prepFailed = taskCtx.Err() == nil
	case t.mi != nil: // multiinstance.go
		res = w.executeMulti(taskCtx, t)
	case len(t.tm.Task.ResourceFiles) > 0 || len(t.tm.Task.OutputFiles) > 0:
		res = w.executeWithFiles(taskCtx, t)
	default:
		res = w.execute(taskCtx, t)
	}
	w.noteRun(t, res) // prefetch.go

	w.mu.Lock()
	t.running = false
	t.settling = true
	w.running--
	w.runningSlots -= t.slots
	idle := w.running == 0
	w.mu.Unlock()
	if idle {
		w.pokeRecord()
	}
	// Hold a settle token before giving the slots back: a bounded number of
	// finished tasks may wait for their report to be accepted.
	w.settleCh <- struct{}{}
	defer func() { <-w.settleCh }()
	w.releaseSlots(t.slots)
	if prepFailed {
		w.requeuePrep(settleCtx, t)
		return
	}
	w.settle(settleCtx, t, res, context.Cause(taskCtx))
}

// execute runs the process, publishing "running" if it outlives
// RunningReportDelay.
func (w *Worker) execute(ctx context.Context, t *task) run.Result {
	appEnv, failed := w.installPackages(ctx, t)
	if failed != nil {
		return *failed
	}
	var (
		timer *time.Timer
		fired chan struct{}
	)
	spec := run.Spec{
		TaskDir:     t.dir,
		CommandLine: t.tm.Task.CommandLine,
		Env:         append(w.taskEnv(t), appEnv...),
		OnStart: func(start time.Time) {
			fired = make(chan struct{})
			timer = time.AfterFunc(w.cfg.RunningReportDelay, func() {
				defer close(fired)
				w.publishRunning(t, start)
			})
		},
	}
	if c := t.tm.Task.Constraints; c != nil && c.MaxWallClockTime != nil && !c.MaxWallClockTime.IsInfinite() {
		spec.MaxWallClockTime = c.MaxWallClockTime.Std()
	}
	res := w.runner.Run(ctx, spec)
	if timer != nil && !timer.Stop() {
		<-fired
	}
	return res
}

// taskEnv is the node environment plus the task's AZ_BATCH_* variables, the
// job's common environment and the task's own settings (the task wins).
func (w *Worker) taskEnv(t *task) []string {
	env := make([]string, 0, len(w.baseEnv)+4+len(t.tm.JobEnvironment)+len(t.tm.Task.EnvironmentSettings))
	env = append(env, w.baseEnv...)
	env = append(env,
		"AZ_BATCH_JOB_ID="+t.tm.JobID,
		"AZ_BATCH_TASK_ID="+t.tm.Task.ID,
		"AZ_BATCH_TASK_DIR="+t.dir,
		"AZ_BATCH_TASK_WORKING_DIR="+t.dir+string(filepath.Separator)+run.WorkingDir,
	)
	if jp := t.tm.JobPreparation; jp != nil {
		env = append(env, w.prepDirEnv(t.tm.JobID, jp)...)
	}
	for _, nv := range t.tm.JobEnvironment {
		env = append(env, nv.Name+"="+nv.Value)
	}
	for _, nv := range t.tm.Task.EnvironmentSettings {
		env = append(env, nv.Name+"="+nv.Value)
	}
	for _, nv := range t.tm.ServiceEnvironment {
		env = append(env, nv.Name+"="+nv.Value)
	}
	return env
}

// settle reports an ended attempt: a completion is handed to the reporter,
// which publishes it in a batch, and acked once the batch is stored; a shutdown or removal requeues the task; a
// task cut off from NATS is left to be redelivered elsewhere.
func (w *Worker) settle(ctx context.Context, t *task, res run.Result, cause error) {
	defer w.forget(t)
	if t.mi != nil && w.settleMulti(ctx, t, res, cause) { // multiinstance.go
		return
	}
	if res.Interrupted {
		var term *terminated
		switch {
		case errors.As(cause, &term):
			msg := term.reason
			if msg == "" {
				msg = MsgTaskEnded
			}
			res.FailureInfo = &batch.TaskFailureInformation{Category: batch.CategoryUser,
				Code: protocol.CodeTaskEnded, Message: msg}
		case errors.Is(cause, errCutOff):
			w.taskLog(t).WarnContext(ctx, "task killed: cut off from NATS; it will be redelivered")
			return
		default: // shutdown or node removed: not the task's fault
			w.requeue(ctx, t, res)
			return
		}
	}
	w.mu.Lock()
	w.totalRun++
	if res.Succeeded() {
		w.totalSucceeded++
	}
	w.mu.Unlock()
	w.retain(t, res.EndTime)

	ev := w.event(t, protocol.EventCompleted)
	ev.StartTime, ev.EndTime = res.StartTime, res.EndTime
	ev.ExitCode, ev.FailureInfo = res.ExitCode, res.FailureInfo
	ev.UserCPU, ev.KernelCPU = res.UserTime, res.KernelTime
	// report.go: batched with other completions; the task message is acked
	// once the batch is stored.
	if err := w.report(ev, t.msg); err != nil {
		w.taskLog(t).ErrorContext(ctx, "task result not reported; the task will be redelivered", "err", err)
		return
	}
	if (res.StdoutSize > 0 || res.StderrSize > 0) && !w.cfg.NoLogCopies {
		w.queueLogCopy(t, res)
	}
	if w.log.Enabled(ctx, slog.LevelDebug) {
		w.taskLog(t).DebugContext(ctx, "task completed", "exit_code", res.ExitCode, "failure", res.FailureInfo,
			"duration", res.EndTime.Sub(res.StartTime))
	}
}

// taskLog is the worker's logger with the task's job, id and attempt. It
// is built only when something is logged: With costs more than settling a
// short task.
func (w *Worker) taskLog(t *task) *slog.Logger {
	return w.log.With("job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "attempt", t.tm.Attempt)
}

// requeue gives a task back: a "requeued" event, then a Nak.
func (w *Worker) requeue(ctx context.Context, t *task, res run.Result) {
	log := w.taskLog(t)
	ev := w.event(t, protocol.EventRequeued)
	ev.StartTime, ev.EndTime = res.StartTime, res.EndTime
	if err := w.publish(ctx, ev, 3); err != nil {
		log.WarnContext(ctx, "requeued event not reported", "err", err)
	}
	if err := t.msg.Nak(); err != nil {
		log.WarnContext(ctx, "nak task", "err", err)
	}
	log.InfoContext(ctx, "task requeued")
}

// event returns an event of the given type about t.
func (w *Worker) event(t *task, typ string) *protocol.TaskEvent {
	return &protocol.TaskEvent{
		Type:        typ,
		Account:     w.cfg.Account,
		JobID:       t.tm.JobID,
		TaskID:      t.tm.Task.ID,
		PoolID:      w.poolID,
		NodeID:      w.cfg.NodeID,
		Attempt:     t.tm.Attempt,
		Delivery:    t.delivery,
		TaskRootDir: t.dir,
	}
}

func (w *Worker) eventMsg(ev *protocol.TaskEvent) (*nats.Msg, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(topology.EventSubject(w.cfg.Account, batch.Key(ev.JobID), batch.Key(ev.TaskID)))
	m.Header.Set(jetstream.MsgIDHeader, ev.MsgID())
	m.Data = data
	return m, nil
}

// publish publishes ev and waits for its PubAck, retrying with backoff until
// ctx is done, or at most tries times when tries > 0.
func (w *Worker) publish(ctx context.Context, ev *protocol.TaskEvent, tries int) error {
	m, err := w.eventMsg(ev)
	if err != nil {
		return err
	}
	wait := 50 * time.Millisecond
	for try := 1; ; try++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = w.js.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || (tries > 0 && try >= tries) {
			return err
		}
		w.log.WarnContext(ctx, "publish task event", "type", ev.Type, "job_id", ev.JobID, "task_id", ev.TaskID,
			"err", err, "retry_in", wait)
		if !sleepCtx(ctx, wait) {
			return err
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// pendingAck is an async publish whose PubAck is checked in the background.
type pendingAck struct {
	fut jetstream.PubAckFuture
	ev  *protocol.TaskEvent
}

// publishRunning publishes a "running" event without waiting for its PubAck.
func (w *Worker) publishRunning(t *task, start time.Time) {
	ev := w.event(t, protocol.EventRunning)
	ev.StartTime = start
	m, err := w.eventMsg(ev)
	if err == nil {
		var fut jetstream.PubAckFuture
		fut, err = w.js.PublishMsgAsync(m)
		if err == nil {
			select {
			case w.acks <- pendingAck{fut: fut, ev: ev}:
			default: // the checker is far behind; the publish itself went out
			}
			return
		}
	}
	w.log.Warn("publish running event", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "err", err)
}

// checkAcks logs async publishes that fail.
func (w *Worker) checkAcks(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	check := func(p pendingAck, d time.Duration) {
		timer.Reset(d)
		select {
		case <-p.fut.Ok():
		case err := <-p.fut.Err():
			w.log.WarnContext(ctx, "running event not stored", "job_id", p.ev.JobID, "task_id", p.ev.TaskID, "err", err)
		case <-timer.C:
			w.log.WarnContext(ctx, "running event not acknowledged in time", "job_id", p.ev.JobID, "task_id", p.ev.TaskID)
		}
	}
	for {
		select {
		case p := <-w.acks:
			check(p, 30*time.Second)
		case <-ctx.Done():
			for {
				select {
				case p := <-w.acks:
					check(p, time.Second)
				default:
					return
				}
			}
		}
	}
}
