package worker

import (
	"context"
	"errors"
	"io"
	"path"
	"path/filepath"
	"time"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/worker/run"
	"github.com/natch-io/natch/worker/stage"
)

// logQueue bounds the task log copies waiting for the background copier;
// beyond it copies are dropped (the task's own files stay on the node).
const logQueue = 256

// executeWithFiles runs a task that has resource or output files: stage,
// run, upload. A staging failure ends the attempt without running the
// command (failureInfo from the stager, no exit code); an upload failure
// sets failureInfo unless the process already failed.
func (w *Worker) executeWithFiles(ctx context.Context, t *task) run.Result {
	start := time.Now()
	log := w.taskLog(t)
	wd := filepath.Join(t.dir, run.WorkingDir)
	if err := w.stager.Stage(ctx, wd, t.tm.Task.ResourceFiles); err != nil {
		now := time.Now()
		if ctx.Err() != nil {
			return run.Result{StartTime: start, EndTime: now, Interrupted: true}
		}
		log.InfoContext(ctx, "resource files not staged; the command does not run", "err", err)
		return run.Result{StartTime: start, EndTime: now,
			FailureInfo: failureInfo(err, stage.CodeBlobDownloadMiscError)}
	}
	res := w.execute(ctx, t)
	if len(t.tm.Task.OutputFiles) == 0 || res.ExitCode == nil || res.Interrupted {
		return res
	}
	err := w.stager.Upload(ctx, t.dir, t.tm.Task.OutputFiles, *res.ExitCode)
	res.EndTime = time.Now()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.Interrupted = true
	default:
		log.InfoContext(ctx, "output files not uploaded", "err", err)
		if res.FailureInfo == nil {
			res.FailureInfo = failureInfo(err, stage.CodeFileUploadMiscError)
		}
	}
	return res
}

// failureInfo is the task failureInfo of a stager error.
func failureInfo(err error, code string) *batch.TaskFailureInformation {
	var se *stage.Error
	if errors.As(err, &se) {
		return se.FailureInfo()
	}
	return &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: code, Message: err.Error()}
}

// logCopy is a finished task whose logs are copied to the object store.
type logCopy struct {
	jobID, taskID string
	dir           string // task directory relative to the root, slash-separated
	stdout        bool
	stderr        bool
}

// queueLogCopy hands a task's non-empty logs to the background copier,
// without waiting: when the queue is full the copy is dropped.
func (w *Worker) queueLogCopy(t *task, res run.Result) {
	lc := logCopy{jobID: t.tm.JobID, taskID: t.tm.Task.ID,
		dir:    path.Join("workitems", t.tm.JobID, "job-1", t.tm.Task.ID),
		stdout: res.StdoutSize > 0, stderr: res.StderrSize > 0}
	select {
	case w.logs <- lc:
	default:
		w.log.Debug("task log copy queue full; dropping a copy", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID)
	}
}

// logCopyLoop copies queued task logs to the account's TaskLogsContainer
// until ctx is done.
func (w *Worker) logCopyLoop(ctx context.Context) {
	var logs *blob.ObjectStore
	for {
		var lc logCopy
		select {
		case lc = <-w.logs:
		case <-ctx.Done():
			return
		}
		if logs == nil {
			c, err := blob.NewObjectStore(w.js, protocol.TaskLogsContainer, blob.Config{Account: w.cfg.Account, Logger: w.log})
			if err == nil {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = c.Create(cctx)
				cancel()
			}
			if err != nil {
				w.log.WarnContext(ctx, "task log copies: container", "err", err)
				continue
			}
			logs = c
		}
		for _, f := range []struct {
			name string
			want bool
		}{{run.StdoutFile, lc.stdout}, {run.StderrFile, lc.stderr}} {
			if f.want {
				w.copyLog(ctx, logs, lc, f.name)
			}
		}
	}
}

// copyLog uploads one log file, opened through the root so that a task
// cannot point it outside the node's directory.
func (w *Worker) copyLog(ctx context.Context, logs *blob.ObjectStore, lc logCopy, name string) {
	f, err := w.root.Open(path.Join(lc.dir, name))
	if err != nil {
		w.log.DebugContext(ctx, "task log copy: open", "job_id", lc.jobID, "task_id", lc.taskID, "err", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := logs.Put(pctx, protocol.TaskLogBlob(lc.jobID, lc.taskID, name), io.LimitReader(f, fi.Size()), fi.Size(), nil); err != nil {
		w.log.WarnContext(ctx, "task log copy", "job_id", lc.jobID, "task_id", lc.taskID, "file", name, "err", err)
	}
}
