package worker

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/worker/run"
	"github.com/natch-io/natch/worker/stage"
)

// StartupDir is the start task's directory under the node's root
// (AZ_BATCH_NODE_STARTUP_DIR): wd/, stdout.txt, stderr.txt.
const StartupDir = "startup"

// startState is the pool's start task as the node runs it. The node record
// carries the task and its state; nodeState overrides idle/running while
// the start task holds the node back (waitingforstarttask) or failed
// (starttaskfailed).
type startState struct {
	mu        sync.Mutex
	task      *batch.StartTask // read from the pool record when the node joins
	info      *batch.StartTaskInformation
	nodeState string
}

// init takes the pool's start task when the node joins.
func (s *startState) init(st *batch.StartTask) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.task, s.info, s.nodeState = st, nil, ""
	if st != nil && st.WaitsForSuccess() {
		s.nodeState = batch.NodeWaitingForStartTask
	}
}

// set records the start task's state (a copy of info) and the node state
// it implies.
func (s *startState) set(info batch.StartTaskInformation, nodeState string) {
	s.mu.Lock()
	s.info, s.nodeState = &info, nodeState
	s.mu.Unlock()
}

// record returns what the node record shows: the start task, its state and
// the node state it imposes ("" when none).
func (s *startState) record() (*batch.StartTask, *batch.StartTaskInformation, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var info *batch.StartTaskInformation
	if s.info != nil {
		c := *s.info
		info = &c
	}
	return s.task, info, s.nodeState
}

// startTaskGate runs the pool's start task when the node joins and reports
// whether the node may take tasks. With waitForSuccess (the default) it
// waits for the start task; when that failed after its retries the node is
// starttaskfailed and startTaskGate returns false once stopCtx is done.
// Without waitForSuccess the start task runs in the background (owned by
// tasks) and the node takes tasks at once.
func (w *Worker) startTaskGate(stopCtx, workCtx context.Context, tasks *sync.WaitGroup) bool {
	w.startPrep(workCtx, tasks)
	st, _, _ := w.start.record()
	if st == nil {
		return true
	}
	if !st.WaitsForSuccess() {
		tasks.Go(func() { w.runStartTask(workCtx, st) })
		return true
	}
	if w.runStartTask(stopCtx, st) {
		return true
	}
	<-stopCtx.Done()
	return false
}

// runStartTask runs the start task in AZ_BATCH_NODE_STARTUP_DIR, retrying
// a failure up to maxTaskRetryCount times (-1: without end), and reports
// whether it succeeded. The node record follows every step.
func (w *Worker) runStartTask(ctx context.Context, st *batch.StartTask) bool {
	dir := filepath.Join(w.rootDir, StartupDir)
	retries := batch.IntOr(st.MaxTaskRetryCount, 0)
	waiting := ""
	if st.WaitsForSuccess() {
		waiting = batch.NodeWaitingForStartTask
	}
	log := w.log.With("start_task", true)
	info := batch.StartTaskInformation{State: batch.StartTaskRunning}
	backoff := 100 * time.Millisecond
	for {
		now := time.Now()
		info.State, info.StartTime, info.EndTime = batch.StartTaskRunning, batch.At(now), nil
		info.ExitCode, info.FailureInfo, info.Result = nil, nil, ""
		w.start.set(info, waiting)
		w.pokeRecord()

		res := w.startAttempt(ctx, st, dir)
		if res.Interrupted || ctx.Err() != nil {
			log.InfoContext(ctx, "start task interrupted")
			return false
		}
		info.StartTime, info.EndTime = batch.At(res.StartTime), batch.At(res.EndTime)
		info.ExitCode, info.FailureInfo = res.ExitCode, res.FailureInfo
		if res.Succeeded() {
			info.State, info.Result = batch.StartTaskCompleted, batch.ResultSuccess
			w.start.set(info, "")
			w.pokeRecord()
			log.InfoContext(ctx, "start task succeeded", "retries", info.RetryCount)
			return true
		}
		if retries == -1 || info.RetryCount < retries {
			info.RetryCount++
			info.LastRetryTime = batch.At(time.Now())
			log.InfoContext(ctx, "start task failed; retrying", "exit_code", res.ExitCode, "failure", res.FailureInfo,
				"retry", info.RetryCount, "retry_in", backoff)
			if !sleepCtx(ctx, backoff) {
				return false
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		info.State, info.Result = batch.StartTaskCompleted, batch.ResultFailure
		final := ""
		if st.WaitsForSuccess() {
			final = batch.NodeStartTaskFailed
		}
		w.start.set(info, final)
		w.pokeRecord()
		log.WarnContext(ctx, "start task failed", "exit_code", res.ExitCode, "failure", res.FailureInfo,
			"retries", info.RetryCount, "node_state", final)
		return false
	}
}

// startAttempt stages the start task's resource files and runs it once.
func (w *Worker) startAttempt(ctx context.Context, st *batch.StartTask, dir string) run.Result {
	return w.runSideTask(ctx, sideTask{dir: dir, commandLine: st.CommandLine, resourceFiles: st.ResourceFiles,
		env: sideEnv(w.baseEnv, dir, nil, st.EnvironmentSettings)})
}

// sideTask is a start, job preparation or job release task: a command in
// its own directory outside the task slots.
type sideTask struct {
	dir           string
	commandLine   string
	resourceFiles []batch.ResourceFile
	env           []string
	maxWallClock  time.Duration
}

// runSideTask stages a side task's resource files into its wd and runs its
// command. A staging failure ends the attempt without running the command.
func (w *Worker) runSideTask(ctx context.Context, s sideTask) run.Result {
	start := time.Now()
	if len(s.resourceFiles) > 0 {
		if err := w.stager.Stage(ctx, filepath.Join(s.dir, run.WorkingDir), s.resourceFiles); err != nil {
			now := time.Now()
			if ctx.Err() != nil {
				return run.Result{StartTime: start, EndTime: now, Interrupted: true}
			}
			return run.Result{StartTime: start, EndTime: now, FailureInfo: failureInfo(err, stage.CodeBlobDownloadMiscError)}
		}
	}
	return w.runner.Run(ctx, run.Spec{TaskDir: s.dir, CommandLine: s.commandLine, Env: s.env,
		MaxWallClockTime: s.maxWallClock})
}

// sideEnv is the environment of a side task: the node's, the task
// directory's AZ_BATCH_* variables, then the given settings in order (a
// later one wins).
func sideEnv(base []string, dir string, extra []string, settings ...[]batch.NameValue) []string {
	env := make([]string, 0, len(base)+2+len(extra))
	env = append(env, base...)
	env = append(env, "AZ_BATCH_TASK_DIR="+dir, "AZ_BATCH_TASK_WORKING_DIR="+filepath.Join(dir, run.WorkingDir))
	env = append(env, extra...)
	for _, s := range settings {
		for _, nv := range s {
			env = append(env, nv.Name+"="+nv.Value)
		}
	}
	return env
}
