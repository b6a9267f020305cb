package service

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// Task add statuses of addtaskcollection.
const (
	AddSuccess     = "success"
	AddClientError = "clienterror"
	AddServerError = "servererror"
)

// AddTask adds one task to a job.
func (s *Service) AddTask(ctx context.Context, account, jobID string, t *batch.Task) (*batch.Task, error) {
	job, err := s.jobForAdd(ctx, account, jobID)
	if err != nil {
		return nil, err
	}
	res := s.addTasks(ctx, account, job, []*batch.Task{t}, nil)
	if res[0].err != nil {
		return nil, res[0].err
	}
	return &res[0].rec.Task, nil
}

// AddTasks adds a collection of tasks to a job and returns a result per
// task, in the order given. A job-level problem (no such job, job
// completed) is returned as the error.
func (s *Service) AddTasks(ctx context.Context, account, jobID string, tasks []*batch.Task) ([]batch.TaskAddResult, error) {
	job, err := s.jobForAdd(ctx, account, jobID)
	if err != nil {
		return nil, err
	}
	res := s.addTasks(ctx, account, job, tasks, nil)
	out := make([]batch.TaskAddResult, len(res))
	for i, r := range res {
		out[i] = r.result(tasks[i].ID)
	}
	return out, nil
}

// AddResultError renders err as addtaskcollection reports a failed task.
func AddResultError(taskID string, err error) batch.TaskAddResult {
	be := batch.AsError(err)
	status := AddClientError
	if be.Status >= 500 {
		status = AddServerError
	}
	return batch.TaskAddResult{Status: status, TaskID: taskID, Error: be.Wire("", newRequestID(), time.Now())}
}

func (s *Service) jobForAdd(ctx context.Context, account, jobID string) (*state.JobRecord, error) {
	job, err := s.GetJob(ctx, account, jobID)
	if err != nil {
		return nil, err
	}
	switch job.State {
	case batch.JobCompleted:
		return nil, batch.Errorf(409, "JobCompleted", "The specified job is already in a completed state.")
	case batch.JobTerminating:
		return nil, batch.Errorf(409, "JobBeingTerminated", "The specified job is being terminated.")
	case batch.JobDeleting:
		return nil, batch.Errorf(409, "JobBeingDeleted", "The specified job is being deleted.")
	}
	return job, nil
}

type added struct {
	rec *state.TaskRecord
	err error
}

func (a added) result(id string) batch.TaskAddResult {
	if a.err != nil {
		return AddResultError(id, a.err)
	}
	return batch.TaskAddResult{Status: AddSuccess, TaskID: a.rec.ID, ETag: a.rec.ETag, LastModified: a.rec.LastModified}
}

// addTasks is the add path: validate, create every record with one
// pipelined batch of KV creates, publish every ready message with one
// pipelined batch of publishes, count. submitSeqs (fast path) records which
// submit message added each task so that a redelivery is recognised.
func (s *Service) addTasks(ctx context.Context, account string, job *state.JobRecord, tasks []*batch.Task, submitSeqs []uint64) []added {
	out := make([]added, len(tasks))
	now := batch.At(s.st.Now())
	jobKey := batch.Key(job.ID)
	var (
		creates []state.Write[state.TaskRecord] // every valid task's record, created at revision 0
		idx     []int                           // the task of each create
	)
	var pkgs *resolver     // only tasks with package references pay for one
	var miPool *batch.Pool // read once, for multi-instance tasks only
	for i, t := range tasks {
		if err := batch.ValidateTaskAdd(t, &job.Job); err != nil {
			out[i].err = err
			continue
		}
		if err := s.checkMultiInstancePool(ctx, account, job, t, &miPool); err != nil { // multiinstance.go
			out[i].err = err
			continue
		}
		rec := &state.TaskRecord{Task: *t, PoolKey: job.PoolKey}
		if len(t.ApplicationPackageReferences) > 0 {
			if pkgs == nil {
				pkgs = s.newResolver(account)
			}
			resolved, err := pkgs.resolve(ctx, "applicationPackageReferences", t.ApplicationPackageReferences)
			if err != nil {
				out[i].err = err
				continue
			}
			rec.AppPackages = resolved
		}
		rec.ETag, rec.LastModified = s.st.Stamp()
		rec.URL, rec.CreationTime, rec.State, rec.StateTransitionTime = "", now, batch.TaskActive, now
		rec.PreviousState, rec.PreviousStateTransitionTime = "", nil
		rec.ExecutionInfo, rec.NodeInfo, rec.Stats = &batch.TaskExecutionInformation{}, nil, nil
		rec.Waiting = depKeys(account, jobKey, t.DependsOn)
		if submitSeqs != nil {
			rec.SubmitSeq = submitSeqs[i]
		}
		out[i].rec = rec
		creates = append(creates, state.Write[state.TaskRecord]{Key: topology.TaskKey(account, jobKey, batch.Key(t.ID)), Value: rec})
		idx = append(idx, i)
	}
	// Create every record with one pipelined round; a create that found the
	// key taken, or failed, is decided one by one.
	var ready []int
	for n, r := range s.st.Tasks.UpdateManyAt(ctx, creates) {
		i, key, rev, err := idx[n], creates[n].Key, r.Revision, r.Err
		if err != nil || !r.OK {
			rev, err = s.createSlow(ctx, key, out[i].rec)
		}
		if err != nil {
			out[i].err = err
			continue
		}
		s.recs.put(key, out[i].rec, rev)
		ready = append(ready, i)
	}
	// Tasks with dependencies wait: register them with what they wait for;
	// those whose dependencies are already met are queued by that.
	if usesDeps(job) {
		ready = s.addDependents(ctx, account, job, out, ready)
	}
	// Publish the ready messages, pipelined. A disabled job's tasks are
	// queued when it is enabled.
	queue := job.State != batch.JobDisabled
	futs := make([]jetstream.PubAckFuture, len(ready))
	for n, i := range ready {
		if !queue {
			continue
		}
		msg, err := s.readyMsg(ctx, account, job, out[i].rec)
		if err == nil {
			futs[n], err = s.js.PublishMsgAsync(msg)
		}
		if err != nil {
			futs[n] = nil
		}
	}
	var delta state.Counts
	for _, a := range out {
		if a.err == nil && a.rec != nil && len(a.rec.Waiting) > 0 {
			delta.Add(state.Delta(nil, a.rec))
		}
	}
	for n, i := range ready {
		if _, err := waitAck(ctx, futs[n]); queue && err != nil {
			msg, merr := s.readyMsg(ctx, account, job, out[i].rec)
			if merr == nil {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err = s.publish(pctx, msg)
				cancel()
			}
			if err != nil {
				// Not queued, so not accepted: take the record back.
				key := topology.TaskKey(account, jobKey, batch.Key(out[i].rec.ID))
				s.recs.del(key)
				_ = s.st.Tasks.Delete(context.WithoutCancel(ctx), key)
				out[i] = added{err: batch.AsError(err)}
				continue
			}
		}
		delta.Add(state.Delta(nil, out[i].rec))
	}
	s.counts.add(topology.JobKey(account, jobKey), delta)
	if queue && s.held(account, job) && len(ready) > 0 {
		s.kickGate(account, jobKey)
	}
	if s.m != nil {
		path := "api"
		if submitSeqs != nil {
			path = "submit"
		}
		s.m.Add(s.m.TasksAdded, delta.Total, path)
	}
	return out
}

// addDependents registers the created tasks that wait for others and
// returns the indexes of ready that the caller should queue: those with no
// dependencies. A task that cannot be registered is taken back.
func (s *Service) addDependents(ctx context.Context, account string, job *state.JobRecord, out []added, ready []int) []int {
	jobKey := batch.Key(job.ID)
	waiting := map[string]*state.TaskRecord{}
	index := map[string]int{}
	queue := ready[:0:0]
	for _, i := range ready {
		rec := out[i].rec
		if len(rec.Waiting) == 0 {
			queue = append(queue, i)
			continue
		}
		key := topology.TaskKey(account, jobKey, batch.Key(rec.ID))
		waiting[key], index[key] = rec, i
	}
	if len(waiting) == 0 {
		return queue
	}
	for key, err := range s.registerDeps(ctx, account, job, waiting) {
		s.recs.del(key)
		_ = s.st.Tasks.Delete(context.WithoutCancel(ctx), key)
		out[index[key]] = added{err: batch.AsError(err)}
	}
	return queue
}

// createSlow creates a task record with a plain KV create: the path for a
// key that held a deleted task, and for pipelined creates that failed.
func (s *Service) createSlow(ctx context.Context, key string, rec *state.TaskRecord) (uint64, error) {
	rev, err := s.st.Tasks.Create(ctx, key, rec)
	if me := (*json.MarshalerError)(nil); errors.As(err, &me) {
		return 0, batch.InvalidBody("", err.Error()) // a raw JSON field of the task that is not JSON
	}
	if !errors.Is(err, batch.ErrTaskExists) || rec.SubmitSeq == 0 {
		return rev, err
	}
	// A redelivered submit message whose task was already created: that is
	// this same add, not a duplicate.
	cur, rev, gerr := s.st.Tasks.Get(ctx, key)
	if gerr == nil && cur.SubmitSeq == rec.SubmitSeq {
		*rec = *cur
		return rev, nil
	}
	return 0, err
}

// waitAck waits for an async publish and returns the stream sequence (for a
// KV write, the new revision).
func waitAck(ctx context.Context, f jetstream.PubAckFuture) (uint64, error) {
	if f == nil {
		return 0, errors.New("not published")
	}
	select {
	case ack := <-f.Ok():
		return ack.Sequence, nil
	case err := <-f.Err():
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(10 * time.Second):
		return 0, errors.New("publish ack timed out")
	}
}

// GetTask returns a task.
func (s *Service) GetTask(ctx context.Context, account, jobID, taskID string) (*state.TaskRecord, error) {
	if _, err := s.GetJob(ctx, account, jobID); err != nil {
		return nil, err
	}
	if batch.ValidID("taskId", taskID) != nil {
		return nil, batch.ErrTaskNotFound
	}
	t, _, err := s.st.Tasks.Get(ctx, topology.TaskKey(account, batch.Key(jobID), batch.Key(taskID)))
	return t, err
}

// ScanTasks calls fn with a job's tasks in the order they last changed,
// after revision after, until fn returns false (or an error). It reads only
// as far as fn goes: a page of a million-task job costs the page.
func (s *Service) ScanTasks(ctx context.Context, account, jobID string, after uint64, fn func(*state.TaskRecord, uint64) (bool, error)) error {
	if _, err := s.GetJob(ctx, account, jobID); err != nil {
		return err
	}
	var ferr error
	err := s.st.Tasks.Scan(ctx, topology.JobTaskKeys(account, batch.Key(jobID)), after, func(e state.Entry[state.TaskRecord]) bool {
		var more bool
		more, ferr = fn(e.Value, e.Revision)
		return more && ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}

// TerminateTask ends a task: a queued one never runs, a running one is
// killed; either way it completes with failureInfo TaskEnded.
func (s *Service) TerminateTask(ctx context.Context, account, jobID, taskID string, cond Condition) error {
	t, err := s.GetTask(ctx, account, jobID, taskID)
	if err != nil {
		return err
	}
	if err := cond.Check(t.ETag, t.LastModified); err != nil {
		return err
	}
	if t.State == batch.TaskCompleted {
		return batch.Errorf(409, "TaskCompleted", "The specified task is already in a completed state.")
	}
	ended, err := s.endTask(ctx, account, jobID, taskID, "The task was terminated by user request.")
	if err != nil {
		return err
	}
	s.kickIfGated(ctx, account, jobID)
	if ended != nil && ended.State == batch.TaskActive {
		s.dropQueued(ctx, account, ended.PoolKey, jobID, taskID)
	}
	if ended != nil && holdsNode(t) {
		s.killOnNode(ctx, account, t, jobID, "The task was terminated by user request.")
	}
	if ended != nil {
		job, err := s.GetJob(ctx, account, jobID)
		if err == nil && usesDeps(job) {
			// Its dependents learn how it ended (by default: blocked).
			cur, _, err := s.st.Tasks.Get(ctx, topology.TaskKey(account, batch.Key(jobID), batch.Key(taskID)))
			if err == nil {
				for _, ferr := range s.resolveParents(ctx, account, job, []*state.TaskRecord{cur}) {
					err = ferr
				}
			}
			if err != nil {
				return wrap("resolve dependent tasks", err)
			}
		}
	}
	return nil
}

// endTask completes an unfinished task with TaskEnded and removes its
// queued message. It returns the record as it was before, or nil if the task
// had already completed.
func (s *Service) endTask(ctx context.Context, account, jobID, taskID, message string) (*state.TaskRecord, error) {
	key := topology.TaskKey(account, batch.Key(jobID), batch.Key(taskID))
	var before *state.TaskRecord
	after, _, err := s.st.Tasks.Update(ctx, key, func(t *state.TaskRecord) error {
		if t.State == batch.TaskCompleted {
			before = nil
			return state.ErrStop
		}
		b := *t
		before = &b
		now := batch.At(s.st.Now())
		setTaskState(s.st, t, batch.TaskCompleted)
		ei := t.ExecutionInfo
		ei.EndTime, ei.Result = now, batch.ResultFailure
		ei.FailureInfo = &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: "TaskEnded", Message: message}
		return nil
	})
	s.recs.del(key)
	if err != nil || before == nil {
		return nil, err
	}
	if before.State == batch.TaskActive {
		if err := s.purgeQueued(ctx, account, before.PoolKey, batch.Key(jobID), batch.Key(taskID)); err != nil {
			s.log.WarnContext(ctx, "purge queued task", "task", taskID, "err", err)
		}
		if err := s.purgeHeld(ctx, account, batch.Key(jobID), batch.Key(taskID)); err != nil {
			s.log.WarnContext(ctx, "purge held task", "task", taskID, "err", err)
		}
		s.endMultiInstance(ctx, account, jobID, before) // multiinstance.go
	}
	s.counts.add(topology.JobKey(account, batch.Key(jobID)), state.Delta(before, after))
	return before, nil
}

// DeleteTask removes a task; a running one is killed first.
func (s *Service) DeleteTask(ctx context.Context, account, jobID, taskID string, cond Condition) error {
	t, err := s.GetTask(ctx, account, jobID, taskID)
	if err != nil {
		return err
	}
	if err := cond.Check(t.ETag, t.LastModified); err != nil {
		return err
	}
	key := topology.TaskKey(account, batch.Key(jobID), batch.Key(taskID))
	if t.State == batch.TaskActive {
		if err := s.purgeQueued(ctx, account, t.PoolKey, batch.Key(jobID), batch.Key(taskID)); err != nil {
			return err
		}
		s.dropQueued(ctx, account, t.PoolKey, jobID, taskID)
		s.endMultiInstance(ctx, account, jobID, t) // multiinstance.go
	}
	if holdsNode(t) {
		s.killOnNode(ctx, account, t, jobID, "The task was deleted.")
	}
	if err := s.purgeHeld(ctx, account, batch.Key(jobID), batch.Key(taskID)); err != nil {
		return err
	}
	defer s.kickIfGated(ctx, account, jobID)
	s.recs.del(key)
	if err := s.st.Tasks.Delete(ctx, key); err != nil {
		return err
	}
	s.counts.add(topology.JobKey(account, batch.Key(jobID)), state.Delta(t, nil))
	return nil
}

// setTaskState moves a task to a new state, keeping the previous one.
func setTaskState(c Clock, t *state.TaskRecord, to string) {
	now := batch.At(c.Now())
	t.ETag, t.LastModified = c.Stamp()
	if t.State != to {
		t.PreviousState, t.PreviousStateTransitionTime = t.State, t.StateTransitionTime
		t.State, t.StateTransitionTime = to, now
	}
	if t.ExecutionInfo == nil {
		t.ExecutionInfo = &batch.TaskExecutionInformation{}
	}
}

// bounded runs f for each index with at most n at once.
func bounded(n, count int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, n)
	for i := range count {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}
