package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// Terminate reasons the service sets.
const (
	ReasonUser             = "UserTerminate"
	ReasonAllTasksComplete = "AllTasksComplete"
	ReasonTaskFailed       = "TaskFailed"
	// ReasonJobManagerComplete ends a job whose job manager task completed
	// (killJobOnCompletion).
	ReasonJobManagerComplete = "JMComplete"
)

// AddJob creates a job on an existing pool.
func (s *Service) AddJob(ctx context.Context, account string, j *batch.Job) (*batch.Job, error) {
	if err := batch.ValidateJobAdd(j); err != nil {
		return nil, err
	}
	// Jobs and job schedules share one namespace of ids.
	if _, _, err := s.st.Schedules.Get(ctx, topology.ScheduleKey(account, batch.Key(j.ID))); err == nil {
		return nil, batch.Errorf(409, "JobScheduleWithSameIdExists", "A job schedule with the same id exists.").With("PropertyName", "id")
	} else if !errors.Is(err, batch.ErrJobScheduleNotFound) {
		return nil, err
	}
	key := topology.JobKey(account, batch.Key(j.ID))
	if _, _, err := s.st.Jobs.Get(ctx, key); err == nil {
		return nil, batch.ErrJobExists // before an auto pool is made for it
	}
	autoPool := ""
	if a := j.PoolInfo.AutoPoolSpecification; a != nil {
		autoPool = batch.AutoPoolID(a.AutoPoolIDPrefix, key+"/"+NewUUID())
	}
	job, err := s.addJob(ctx, account, j, "", autoPool)
	if err != nil && autoPool != "" {
		if derr := ignoreConflict(s.DeletePool(ctx, account, autoPool, Condition{})); derr != nil {
			s.log.WarnContext(ctx, "delete the auto pool of a job not added", "pool", autoPool, "err", derr)
		}
	}
	return job, err
}

// addJob creates a validated job; scheduleKey names the job schedule that
// creates it (empty for none). A job whose poolInfo has an
// autoPoolSpecification runs on the pool autoPool, which is created unless
// it exists (a schedule's shared pool, or a second attempt).
func (s *Service) addJob(ctx context.Context, account string, j *batch.Job, scheduleKey, autoPool string) (*batch.Job, error) {
	var pool *batch.Pool
	var err error
	if a := j.PoolInfo.AutoPoolSpecification; a != nil {
		pool, err = s.ensureAutoPool(ctx, account, autoPool, a)
	} else {
		pool, err = s.GetPool(ctx, account, j.PoolInfo.PoolID)
	}
	if err != nil {
		return nil, err
	}
	if pool.State == batch.PoolDeleting {
		return nil, batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.")
	}
	var jm *batch.Task
	if j.JobManagerTask != nil {
		jm = j.JobManagerTask.Task(batch.IntOr(pool.TaskSlotsPerNode, 1))
		if err := batch.ValidateTaskAdd(jm, j); err != nil {
			return nil, err
		}
	}
	now := batch.At(s.st.Now())
	rec := &state.JobRecord{Job: *j, PoolKey: batch.Key(pool.ID), ScheduleKey: scheduleKey}
	if a := j.PoolInfo.AutoPoolSpecification; a != nil && a.PoolLifetimeOption == batch.AutoPoolJob {
		rec.AutoPoolID = pool.ID
	}
	rec.ETag, rec.LastModified = s.st.Stamp()
	rec.URL, rec.CreationTime, rec.State, rec.StateTransitionTime = "", now, batch.JobActive, now
	rec.PreviousState, rec.PreviousStateTransitionTime, rec.Stats = "", nil, nil
	rec.ExecutionInfo = &batch.JobExecutionInformation{StartTime: now, PoolID: pool.ID}
	key := topology.JobKey(account, batch.Key(j.ID))
	if _, err := s.st.Jobs.Create(ctx, key, rec); err != nil {
		return nil, wrap("add job", err)
	}
	if _, err := s.st.Counts.Create(ctx, key, &state.Counts{}); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, wrap("add job counts", err)
	}
	s.jobAdded(ctx, account, rec) // its pool may have become a priority pool
	if jm != nil {
		// The job manager is queued before any other task can be: first in
		// its pool's queue, it runs first.
		if res := s.addTasks(ctx, account, rec, []*batch.Task{jm}, nil); res[0].err != nil {
			_ = s.st.Counts.Delete(context.WithoutCancel(ctx), key)
			_ = s.st.Jobs.Delete(context.WithoutCancel(ctx), key)
			return nil, res[0].err
		}
	}
	return &rec.Job, nil
}

// GetJob returns a job.
func (s *Service) GetJob(ctx context.Context, account, id string) (*state.JobRecord, error) {
	if batch.ValidJobID("jobId", id) != nil {
		return nil, batch.ErrJobNotFound
	}
	j, _, err := s.st.Jobs.Get(ctx, topology.JobKey(account, batch.Key(id)))
	return j, err
}

// ScanJobs calls fn with the account's jobs in the order they last
// changed, after revision after, until fn returns false (or an error).
func (s *Service) ScanJobs(ctx context.Context, account string, after uint64, fn func(*batch.Job, uint64) (bool, error)) error {
	var ferr error
	err := s.st.Jobs.Scan(ctx, account+".*", after, func(e state.Entry[state.JobRecord]) bool {
		var more bool
		more, ferr = fn(&e.Value.Job, e.Revision)
		return more && ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}

// TaskCounts returns a job's task counts.
func (s *Service) TaskCounts(ctx context.Context, account, id string) (*batch.TaskCountsResult, error) {
	if _, err := s.GetJob(ctx, account, id); err != nil {
		return nil, err
	}
	c, _, err := s.st.Counts.Get(ctx, topology.JobKey(account, batch.Key(id)))
	if errors.Is(err, batch.ErrJobNotFound) {
		c, err = &state.Counts{}, nil
	}
	if err != nil {
		return nil, err
	}
	clamp := func(t batch.TaskCounts) batch.TaskCounts {
		f := func(v int) int { return max(v, 0) }
		return batch.TaskCounts{Active: f(t.Active), Running: f(t.Running), Completed: f(t.Completed), Succeeded: f(t.Succeeded), Failed: f(t.Failed)}
	}
	return &batch.TaskCountsResult{TaskCounts: clamp(c.Tasks), TaskSlotCounts: clamp(c.Slots)}, nil
}

// TerminateJob moves a job to terminating and ends its tasks in the
// background; the job is then completed.
func (s *Service) TerminateJob(ctx context.Context, account, id, reason string, cond Condition) error {
	if reason == "" {
		reason = ReasonUser
	}
	return s.endJob(ctx, account, id, batch.JobTerminating, reason, cond)
}

// DeleteJob moves a job to deleting; its tasks are ended and removed in the
// background, then the job itself.
func (s *Service) DeleteJob(ctx context.Context, account, id string, cond Condition) error {
	return s.endJob(ctx, account, id, batch.JobDeleting, "", cond)
}

func (s *Service) endJob(ctx context.Context, account, id, to, reason string, cond Condition) error {
	if batch.ValidJobID("jobId", id) != nil {
		return batch.ErrJobNotFound
	}
	key := topology.JobKey(account, batch.Key(id))
	rec, _, err := s.st.Jobs.Update(ctx, key, func(j *state.JobRecord) error {
		if err := cond.Check(j.ETag, j.LastModified); err != nil {
			return err
		}
		switch {
		case j.State == batch.JobDeleting:
			return batch.Errorf(409, "JobBeingDeleted", "The specified job is being deleted.")
		case to == batch.JobTerminating && j.State == batch.JobCompleted:
			return batch.Errorf(409, "JobCompleted", "The specified job is already in a completed state.")
		case to == batch.JobTerminating && j.State == batch.JobTerminating:
			return batch.Errorf(409, "JobBeingTerminated", "The specified job is already being terminated.")
		}
		s.setJobState(j, to)
		if reason != "" {
			j.ExecutionInfo.TerminateReason = reason
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.goTeardown(account, rec)
	return nil
}

func (s *Service) setJobState(j *state.JobRecord, to string) {
	now := batch.At(s.st.Now())
	j.ETag, j.LastModified = s.st.Stamp()
	j.PreviousState, j.PreviousStateTransitionTime = j.State, j.StateTransitionTime
	j.State, j.StateTransitionTime = to, now
	if j.ExecutionInfo == nil {
		j.ExecutionInfo = &batch.JobExecutionInformation{}
	}
	if to == batch.JobCompleted {
		j.ExecutionInfo.EndTime = now
	}
}

// goTeardown ends a terminating or deleting job's tasks in the background.
func (s *Service) goTeardown(account string, rec *state.JobRecord) {
	s.bg.Go(func() {
		// Long enough for the job release tasks (at most 15 minutes).
		ctx, cancel := context.WithTimeout(s.bgCtx, 30*time.Minute)
		defer cancel()
		if err := s.teardown(ctx, account, rec); err != nil && s.bgCtx.Err() == nil {
			s.log.ErrorContext(ctx, "end job", "account", account, "job", rec.ID, "err", err)
		}
	})
}

// teardown stops a job's work: no queued task of it runs, its running
// tasks are killed and every unfinished task is completed with TaskEnded.
// A terminating job then completes; a deleting job is removed with its tasks.
// It is idempotent, so a restarted dispatcher can run it again.
func (s *Service) teardown(ctx context.Context, account string, rec *state.JobRecord) error {
	jobKey := batch.Key(rec.ID)
	key := topology.JobKey(account, jobKey)
	if err := s.purgeJob(ctx, account, rec); err != nil {
		return err
	}
	tasks, err := s.st.Tasks.List(ctx, topology.JobTaskKeys(account, jobKey))
	if err != nil {
		return err
	}
	msg := "The task was ended because its job was terminated."
	if rec.State == batch.JobDeleting {
		msg = "The task was ended because its job was deleted."
	}
	for _, e := range tasks {
		t := e.Value
		if t.State != batch.TaskCompleted {
			if holdsNode(t) {
				s.killOnNode(ctx, account, t, rec.ID, msg)
			}
			if rec.State != batch.JobDeleting {
				if _, err := s.endTask(ctx, account, rec.ID, t.ID, msg); err != nil && !errors.Is(err, batch.ErrTaskNotFound) {
					return err
				}
			}
		}
		if rec.State == batch.JobDeleting {
			s.recs.del(e.Key)
			if err := s.st.Tasks.Delete(ctx, e.Key); err != nil {
				return err
			}
		}
	}
	if gated(rec) {
		if err := s.removeGate(ctx, account, jobKey); err != nil {
			return err
		}
	}
	// The job is completed (or removed) only once its release tasks ended.
	s.releaseJob(ctx, account, rec)
	if rec.State == batch.JobDeleting {
		if usesDeps(rec) {
			if err := s.purgeDeps(ctx, account, jobKey); err != nil {
				return err
			}
		}
		if err := s.purgeRendezvous(ctx, account, jobKey); err != nil { // multiinstance.go
			return err
		}
		if err := s.st.Counts.Delete(ctx, key); err != nil {
			return err
		}
		if err := s.st.Jobs.Delete(ctx, key); err != nil {
			return err
		}
		s.jobEnded(ctx, account, rec)
		return nil
	}
	_, _, err = s.st.Jobs.Update(ctx, key, func(j *state.JobRecord) error {
		if j.State != batch.JobTerminating {
			return state.ErrStop
		}
		s.setJobState(j, batch.JobCompleted)
		return nil
	})
	if err == nil {
		s.jobEnded(ctx, account, rec)
	}
	return err
}

// jobEnded runs what follows a job's completion or deletion: its schedule
// may create the next job, and its auto pool (lifetime job) is deleted
// unless kept alive.
func (s *Service) jobEnded(ctx context.Context, account string, job *state.JobRecord) {
	s.scheduleJobEnded(ctx, account, job)
	if job.AutoPoolID != "" && job.PoolInfo != nil && job.PoolInfo.AutoPoolSpecification != nil {
		s.endAutoPool(ctx, account, job.AutoPoolID, job.PoolInfo.AutoPoolSpecification)
	}
}

// submitsPending reports whether the submit stream still holds tasks for
// a job (not yet added, or added and not yet acknowledged). When in doubt
// it says yes: a job that ends too early loses tasks, one that ends a
// counts flush later loses nothing.
func (s *Service) submitsPending(ctx context.Context, account, jobKey string) bool {
	str, err := s.js.Stream(ctx, topology.SubmitStream)
	if err != nil {
		return true
	}
	info, err := str.Info(ctx, jetstream.WithSubjectFilter(topology.SubmitSubject(account, "*")))
	if err != nil {
		return true
	}
	for subject, n := range info.State.Subjects {
		if n > 0 && batch.Key(subject[strings.LastIndexByte(subject, '.')+1:]) == jobKey {
			return true
		}
	}
	return false
}

// allTasksComplete applies a job's onAllTasksComplete once its counts say
// no task is active or running.
func (s *Service) allTasksComplete(ctx context.Context, countsKey string) {
	account, jobKey, ok := strings.Cut(countsKey, ".")
	if !ok {
		return
	}
	j, _, err := s.st.Jobs.Get(ctx, countsKey)
	if err != nil || j.State != batch.JobActive || j.OnAllTasksComplete != batch.OnAllTasksTerminate {
		return
	}
	if s.submitsPending(ctx, account, jobKey) {
		// Tasks are on their way through the submit stream: not all
		// complete yet. Look again at the next flush.
		s.counts.again(countsKey)
		return
	}
	s.endJobQuietly(ctx, account, jobKey, ReasonAllTasksComplete)
}
