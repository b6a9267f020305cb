package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker/run"
)

// PreparedJobsDir holds, under the node's root, a file per job whose
// preparation task the node ran: the node runs the job's release task when
// the job ends, also after the agent restarted.
const PreparedJobsDir = "volatile/natch-jobprep"

// prepRequeueDelay is how long a task whose job preparation failed on this
// node waits before it is delivered again (to another node, or to this one,
// which gives it back at once).
const prepRequeueDelay = 5 * time.Second

// Error codes of the job release command.
const (
	// CodeJobPreparationNotRun: the node did not run the job's preparation task.
	CodeJobPreparationNotRun = "JobPreparationTaskNotRunOnNode"
)

// prepState is the node's job preparation tasks: per job whether it ran,
// succeeded or failed here, and the single run under way.
type prepState struct {
	mu      sync.Mutex
	jobs    map[string]*jobPrep // by job key
	ctx     context.Context     // work context of background runs
	tasks   *sync.WaitGroup     // owns background preparation runs
	release sync.WaitGroup      // owns release runs
	closed  bool                // no more release runs
	kv      jetstream.KeyValue  // topology.JobPrepBucket, opened on first use
}

// jobPrep is one job's preparation on this node.
type jobPrep struct {
	rec preparedJob
	// ran: rec is the outcome of a run that counts for this agent (this
	// agent's, or an earlier agent's that needs no rerun after a restart).
	ran       bool
	done      chan struct{} // non-nil while a run is under way; closed when it ends
	releasing chan struct{} // non-nil while the release task runs
}

// preparedJob is the file PreparedJobsDir/<job key>.json.
type preparedJob struct {
	JobID     string `json:"jobId"`
	Succeeded bool   `json:"succeeded"`
	// Failed: the preparation task failed with waitForSuccess; the node
	// takes no task of the job.
	Failed bool `json:"failed"`
	// Rerun is rerunOnNodeRebootAfterSuccess.
	Rerun bool `json:"rerun"`
}

// startPrep sets the context and owner of background runs and loads the jobs
// prepared by an earlier agent on this node.
func (w *Worker) startPrep(ctx context.Context, tasks *sync.WaitGroup) {
	p := &w.prep
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx, p.tasks = ctx, tasks
	p.jobs = map[string]*jobPrep{}
	dir := filepath.Join(w.rootDir, filepath.FromSlash(PreparedJobsDir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.log.WarnContext(ctx, "prepared jobs directory", "err", err)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.log.WarnContext(ctx, "read prepared jobs", "err", err)
		return
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var rec preparedJob
		if err == nil {
			err = json.Unmarshal(data, &rec)
		}
		if err != nil || rec.JobID == "" {
			w.log.WarnContext(ctx, "dropping an unreadable prepared job file", "file", e.Name(), "err", err)
			_ = os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		p.jobs[batch.Key(rec.JobID)] = &jobPrep{rec: rec, ran: rec.Failed || (rec.Succeeded && !rec.Rerun)}
	}
}

// closePrep stops release runs from starting and waits for those under
// way: ShutdownGrace, then they are killed (their requests fail, and the
// dispatcher goes on without them).
func (w *Worker) closePrep() {
	w.prep.mu.Lock()
	w.prep.closed = true
	w.prep.mu.Unlock()
	done := make(chan struct{})
	go func() { w.prep.release.Wait(); close(done) }()
	if !waitFor(done, w.cfg.ShutdownGrace) {
		w.cancelWork(errShutdown)
		<-done
	}
}

// savePrepared writes a job's preparedJob file (best effort: a lost file only means
// a restarted agent does not run the release task).
func (w *Worker) savePrepared(rec preparedJob) {
	dir := filepath.Join(w.rootDir, filepath.FromSlash(PreparedJobsDir))
	data, err := json.Marshal(rec)
	if err == nil {
		tmp := filepath.Join(dir, "."+batch.Key(rec.JobID)+".tmp")
		if err = os.WriteFile(tmp, data, 0o644); err == nil {
			err = os.Rename(tmp, filepath.Join(dir, batch.Key(rec.JobID)+".json"))
		}
	}
	if err != nil {
		w.log.Warn("save prepared job", "job_id", rec.JobID, "err", err)
	}
}

// jobPrep runs the job preparation task of t's job if the node has not run
// it yet, at most one run per job at a time; tasks of the job that arrive
// meanwhile wait for that run (waitForSuccess) and are reported preparing.
// It reports whether t may run: false when the preparation failed here
// (the task is to be requeued) or when ctx ended.
func (w *Worker) jobPrep(ctx context.Context, t *task) bool {
	jp := t.tm.JobPreparation
	if jp == nil {
		return true
	}
	key := batch.Key(t.tm.JobID)
	reported := false
	for {
		p := &w.prep
		p.mu.Lock()
		j := p.jobs[key]
		if j == nil {
			j = &jobPrep{}
			p.jobs[key] = j
		}
		switch {
		case j.ran:
			failed := j.rec.Failed
			p.mu.Unlock()
			return !failed
		case j.done != nil:
			done := j.done
			p.mu.Unlock()
			if !jp.WaitsForSuccess() {
				return true
			}
			if !reported {
				reported = true
				w.publishPreparing(ctx, t)
			}
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return false
			}
		}
		// This task starts the run.
		done := make(chan struct{})
		j.done = done
		runCtx, owner := ctx, (*sync.WaitGroup)(nil)
		if !jp.WaitsForSuccess() {
			runCtx, owner = p.ctx, p.tasks
		}
		p.mu.Unlock()
		if owner != nil {
			owner.Go(func() { w.runPrep(runCtx, t.tm, jp, j, done) })
			return true
		}
		if !reported {
			reported = true
			w.publishPreparing(ctx, t)
		}
		w.runPrep(runCtx, t.tm, jp, j, done)
		if ctx.Err() != nil {
			return false
		}
	}
}

// publishPreparing reports that t waits for the job preparation task.
func (w *Worker) publishPreparing(ctx context.Context, t *task) {
	ev := w.event(t, protocol.EventPreparing)
	ev.StartTime = time.Now()
	if err := w.publish(ctx, ev, 3); err != nil && ctx.Err() == nil {
		w.log.WarnContext(ctx, "preparing event not reported", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "err", err)
	}
}

// prepDir is a job preparation or release task's directory.
func (w *Worker) prepDir(jobID, id string) string {
	return filepath.Join(w.rootDir, "workitems", jobID, "job-1", id)
}

// prepDirEnv is AZ_BATCH_JOB_PREP_DIR and AZ_BATCH_JOB_PREP_WORKING_DIR
// for the tasks of a job with a preparation task.
func (w *Worker) prepDirEnv(jobID string, jp *batch.JobPreparationTask) []string {
	dir := w.prepDir(jobID, cmp.Or(jp.ID, batch.DefaultJobPreparationID))
	return []string{"AZ_BATCH_JOB_PREP_DIR=" + dir, "AZ_BATCH_JOB_PREP_WORKING_DIR=" + filepath.Join(dir, run.WorkingDir)}
}

// nodeURL is the node's URL, empty without an account URL.
func (w *Worker) nodeURL() string {
	if w.cfg.AccountURL == "" {
		return ""
	}
	return w.cfg.AccountURL + "/pools/" + w.poolID + "/nodes/" + w.cfg.NodeID
}

// fileURL is the URL of a directory under the node's root, empty without
// an account URL.
func (w *Worker) fileURL(dir string) string {
	rel, err := filepath.Rel(w.rootDir, dir)
	if w.cfg.AccountURL == "" || err != nil {
		return ""
	}
	return w.nodeURL() + "/files/" + filepath.ToSlash(rel)
}

// runPrep runs a job's preparation task with its retries, records the
// outcome on disk and in the job preparation bucket, and closes done.
func (w *Worker) runPrep(ctx context.Context, tm protocol.TaskMessage, jp *batch.JobPreparationTask, j *jobPrep, done chan struct{}) {
	id := cmp.Or(jp.ID, batch.DefaultJobPreparationID)
	dir := w.prepDir(tm.JobID, id)
	log := w.log.With("job_id", tm.JobID, "job_preparation", id)
	rec := preparedJob{JobID: tm.JobID, Rerun: jp.RerunsAfterReboot()}
	w.savePrepared(rec) // before it runs: a node that ran it runs the release task
	info := &batch.JobPreparationTaskExecutionInformation{TaskRootDirectory: dir, TaskRootDirectoryURL: w.fileURL(dir)}
	var retries int
	var wall time.Duration
	if c := jp.Constraints; c != nil {
		retries = batch.IntOr(c.MaxTaskRetryCount, 0)
		if c.MaxWallClockTime != nil && !c.MaxWallClockTime.IsInfinite() {
			wall = c.MaxWallClockTime.Std()
		}
	}
	extra := append([]string{"AZ_BATCH_JOB_ID=" + tm.JobID, "AZ_BATCH_TASK_ID=" + id}, w.prepDirEnv(tm.JobID, jp)...)
	env := sideEnv(w.baseEnv, dir, extra, tm.JobEnvironment, jp.EnvironmentSettings)
	interrupted := false
	for {
		info.State, info.StartTime, info.EndTime = batch.StartTaskRunning, batch.At(time.Now()), nil
		info.ExitCode, info.FailureInfo, info.Result = nil, nil, ""
		w.putPrepStatus(ctx, tm.JobID, func(s *protocol.JobPrepStatus) { c := *info; s.Preparation = &c })
		res := w.runSideTask(ctx, sideTask{dir: dir, commandLine: jp.CommandLine, resourceFiles: jp.ResourceFiles,
			env: env, maxWallClock: wall})
		if res.Interrupted || ctx.Err() != nil {
			interrupted = true
			break
		}
		info.StartTime, info.EndTime = batch.At(res.StartTime), batch.At(res.EndTime)
		info.ExitCode, info.FailureInfo = res.ExitCode, res.FailureInfo
		if res.Succeeded() {
			info.State, info.Result = batch.StartTaskCompleted, batch.ResultSuccess
			rec.Succeeded = true
			break
		}
		if retries == -1 || info.RetryCount < retries {
			info.RetryCount++
			info.LastRetryTime = batch.At(time.Now())
			log.InfoContext(ctx, "job preparation task failed; retrying", "exit_code", res.ExitCode, "retry", info.RetryCount)
			continue
		}
		info.State, info.Result = batch.StartTaskCompleted, batch.ResultFailure
		rec.Failed = jp.WaitsForSuccess()
		log.WarnContext(ctx, "job preparation task failed", "exit_code", res.ExitCode, "failure", res.FailureInfo,
			"retries", info.RetryCount)
		break
	}
	if !interrupted {
		w.putPrepStatus(context.WithoutCancel(ctx), tm.JobID, func(s *protocol.JobPrepStatus) { c := *info; s.Preparation = &c })
		w.savePrepared(rec)
	}
	w.prep.mu.Lock()
	j.rec, j.ran, j.done = rec, !interrupted, nil
	w.prep.mu.Unlock()
	close(done)
}

// prepBucket opens the job preparation bucket once.
func (w *Worker) prepBucket(ctx context.Context) (jetstream.KeyValue, error) {
	w.prep.mu.Lock()
	kv := w.prep.kv
	w.prep.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := w.js.KeyValue(ctx, topology.JobPrepBucket)
	if err != nil {
		return nil, err
	}
	w.prep.mu.Lock()
	w.prep.kv = kv
	w.prep.mu.Unlock()
	return kv, nil
}

// putPrepStatus changes the node's entry of a job in the job preparation
// bucket (this worker is its only writer). Best effort: a failure is logged.
func (w *Worker) putPrepStatus(ctx context.Context, jobID string, change func(*protocol.JobPrepStatus)) {
	err := func() error {
		kv, err := w.prepBucket(ctx)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		key := topology.JobPrepKey(w.cfg.Account, batch.Key(jobID), w.nodeKey)
		st := protocol.JobPrepStatus{}
		if e, err := kv.Get(ctx, key); err == nil {
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				st = protocol.JobPrepStatus{}
			}
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
		st.Account, st.JobID, st.PoolID, st.NodeID, st.NodeURL = w.cfg.Account, jobID, w.poolID, w.cfg.NodeID, w.nodeURL()
		change(&st)
		data, err := json.Marshal(&st)
		if err != nil {
			return err
		}
		_, err = kv.Put(ctx, key, data)
		return err
	}()
	if err != nil {
		w.log.WarnContext(ctx, "job preparation status not stored", "job_id", jobID, "err", err)
	}
}

// requeuePrep gives back a task whose job preparation failed on this node:
// a "requeued" event, then a delayed Nak, so that another node takes it.
func (w *Worker) requeuePrep(ctx context.Context, t *task) {
	defer w.forget(t)
	log := w.taskLog(t)
	now := time.Now()
	ev := w.event(t, protocol.EventRequeued)
	ev.StartTime, ev.EndTime = now, now
	if err := w.publish(ctx, ev, 3); err != nil {
		log.WarnContext(ctx, "requeued event not reported", "err", err)
	}
	if err := t.msg.NakWithDelay(prepRequeueDelay); err != nil {
		log.WarnContext(ctx, "nak task", "err", err)
	}
	log.InfoContext(ctx, "task requeued: the job preparation task failed on this node")
}

// cmdJobRelease serves CmdJobRelease: it runs the job's release task if the
// node prepared the job, then replies. The reply comes when the release
// task has ended, so the run happens outside the subscription's goroutine.
func (w *Worker) cmdJobRelease(m *nats.Msg) {
	respond := func(err error) {
		if m.Reply == "" {
			return
		}
		reply := nats.NewMsg(m.Reply)
		if err != nil {
			var ce *cmdError
			if !errors.As(err, &ce) {
				ce = &cmdError{"InternalError", err.Error()}
			}
			reply.Header = nats.Header{protocol.ErrorHeader: []string{ce.code}}
			reply.Data = []byte(ce.msg)
		}
		if err := m.RespondMsg(reply); err != nil {
			w.log.Warn("reply to node command", "command", protocol.CmdJobRelease, "err", err)
		}
	}
	var req protocol.JobRelease
	if err := json.Unmarshal(m.Data, &req); err != nil || batch.ValidJobID("jobId", req.JobID) != nil {
		respond(&cmdError{CodeInvalidInput, fmt.Sprintf("The request body is not a valid job release request: %v", err)})
		return
	}
	p := &w.prep
	p.mu.Lock()
	if p.closed || p.ctx == nil {
		p.mu.Unlock()
		respond(&cmdError{"NodeNotReady", "The node is starting or stopping."})
		return
	}
	ctx := p.ctx
	p.release.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.release.Done()
		respond(w.jobRelease(ctx, req))
	}()
}

// jobRelease runs a job's release task once on a node that prepared the
// job, and forgets the job. A second request while it runs waits for it.
func (w *Worker) jobRelease(ctx context.Context, req protocol.JobRelease) error {
	key := batch.Key(req.JobID)
	p := &w.prep
	p.mu.Lock()
	j := p.jobs[key]
	if j == nil {
		p.mu.Unlock()
		return &cmdError{CodeJobPreparationNotRun, "The job preparation task was not run on the node."}
	}
	if j.releasing != nil {
		ch := j.releasing
		p.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan struct{})
	j.releasing = ch
	p.mu.Unlock()
	defer close(ch)

	if jr := req.Release; jr != nil {
		if err := w.runRelease(ctx, req, jr); err != nil {
			p.mu.Lock()
			j.releasing = nil
			p.mu.Unlock()
			return err
		}
	}
	w.retainPrepRelease(req, time.Now())
	p.mu.Lock()
	if p.jobs[key] == j {
		delete(p.jobs, key)
	}
	p.mu.Unlock()
	if err := os.Remove(filepath.Join(w.rootDir, filepath.FromSlash(PreparedJobsDir), key+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		w.log.WarnContext(ctx, "forget prepared job", "job_id", req.JobID, "err", err)
	}
	return nil
}

// runRelease runs the release task (no retries; maxWallClockTime at most
// 15 minutes) and records it in the job preparation bucket. It fails only
// when ctx ended first.
func (w *Worker) runRelease(ctx context.Context, req protocol.JobRelease, jr *batch.JobReleaseTask) error {
	id := cmp.Or(jr.ID, batch.DefaultJobReleaseID)
	dir := w.prepDir(req.JobID, id)
	wall := batch.MaxJobReleaseWallClock
	if jr.MaxWallClockTime != nil && !jr.MaxWallClockTime.IsInfinite() && jr.MaxWallClockTime.Std() < wall {
		wall = jr.MaxWallClockTime.Std()
	}
	info := &batch.JobReleaseTaskExecutionInformation{State: batch.StartTaskRunning, StartTime: batch.At(time.Now()),
		TaskRootDirectory: dir, TaskRootDirectoryURL: w.fileURL(dir)}
	w.putPrepStatus(ctx, req.JobID, func(s *protocol.JobPrepStatus) { c := *info; s.Release = &c })
	extra := []string{"AZ_BATCH_JOB_ID=" + req.JobID, "AZ_BATCH_TASK_ID=" + id}
	prepDir := w.prepDir(req.JobID, prepID(req.Preparation))
	extra = append(extra, "AZ_BATCH_JOB_PREP_DIR="+prepDir, "AZ_BATCH_JOB_PREP_WORKING_DIR="+filepath.Join(prepDir, run.WorkingDir))
	res := w.runSideTask(ctx, sideTask{dir: dir, commandLine: jr.CommandLine, resourceFiles: jr.ResourceFiles,
		env: sideEnv(w.baseEnv, dir, extra, req.JobEnvironment, jr.EnvironmentSettings), maxWallClock: wall})
	if res.Interrupted && ctx.Err() != nil {
		return ctx.Err()
	}
	info.State, info.StartTime, info.EndTime = batch.StartTaskCompleted, batch.At(res.StartTime), batch.At(res.EndTime)
	info.ExitCode, info.FailureInfo = res.ExitCode, res.FailureInfo
	info.Result = batch.ResultFailure
	if res.Succeeded() {
		info.Result = batch.ResultSuccess
	}
	w.putPrepStatus(context.WithoutCancel(ctx), req.JobID, func(s *protocol.JobPrepStatus) { c := *info; s.Release = &c })
	return nil
}

// prepID is the id of a job preparation task (its directory's name).
func prepID(jp *batch.JobPreparationTask) string {
	if jp == nil {
		return batch.DefaultJobPreparationID
	}
	return cmp.Or(jp.ID, batch.DefaultJobPreparationID)
}

// retainPrepRelease hands a released job's preparation and release task
// directories to the janitor: each is removed once its retentionTime
// (default 7 days) has passed since the release.
func (w *Worker) retainPrepRelease(req protocol.JobRelease, end time.Time) {
	retain := func(id string, r *batch.Duration) {
		d := defaultRetention
		if r != nil {
			if r.IsInfinite() {
				return
			}
			d = max(r.Std(), 0)
		}
		rel := path.Join("workitems", req.JobID, "job-1", id)
		if err := w.journal.add(rel, end, end.Add(d)); err != nil {
			w.log.Warn("journal job preparation retention", "job_id", req.JobID, "dir", rel, "err", err)
		}
	}
	var prepRetention *batch.Duration
	if jp := req.Preparation; jp != nil && jp.Constraints != nil {
		prepRetention = jp.Constraints.RetentionTime
	}
	retain(prepID(req.Preparation), prepRetention)
	if jr := req.Release; jr != nil {
		retain(cmp.Or(jr.ID, batch.DefaultJobReleaseID), jr.RetentionTime)
	}
}
