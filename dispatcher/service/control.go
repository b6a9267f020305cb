package service

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// ReactivateTask makes a task that completed with a failure active again:
// its retry count is reset and it runs once more as a new attempt (events of
// the earlier attempts are then ignored). Only a completed, failed task can
// be reactivated.
func (s *Service) ReactivateTask(ctx context.Context, account, jobID, taskID string, cond Condition) error {
	job, err := s.jobForAdd(ctx, account, jobID)
	if err != nil {
		return err
	}
	if batch.ValidID("taskId", taskID) != nil {
		return batch.ErrTaskNotFound
	}
	key := topology.TaskKey(account, batch.Key(jobID), batch.Key(taskID))
	var before *state.TaskRecord
	after, _, err := s.st.Tasks.Update(ctx, key, func(t *state.TaskRecord) error {
		if err := cond.Check(t.ETag, t.LastModified); err != nil {
			return err
		}
		if t.State != batch.TaskCompleted {
			return batch.Errorf(409, "TaskNotCompleted", "The specified task is not in a completed state.")
		}
		if t.ExecutionInfo == nil || t.ExecutionInfo.Result != batch.ResultFailure {
			return batch.Errorf(409, "TaskSucceeded", "The specified task completed successfully and cannot be reactivated.")
		}
		before = cloneRecord(t)
		setTaskState(s.st, t, batch.TaskActive)
		ei := t.ExecutionInfo
		ei.StartTime, ei.EndTime, ei.ExitCode, ei.FailureInfo, ei.Result = nil, nil, nil, nil, ""
		ei.RetryCount, ei.LastRetryTime = 0, nil
		t.NodeInfo = nil
		t.Attempt++
		t.Delivery = 0
		return nil
	})
	s.recs.del(key)
	if err != nil {
		return err
	}
	s.counts.add(topology.JobKey(account, batch.Key(jobID)), state.Delta(before, after))
	if usesDeps(job) {
		// The tasks its failure blocked wait for its new attempt.
		if err := s.unresolveParent(ctx, account, job, after.ID); err != nil {
			return wrap("unblock dependent tasks", err)
		}
	}
	if job.State == batch.JobDisabled {
		return nil // enable queues it
	}
	msg, err := s.readyMsg(ctx, account, job, after)
	if err == nil {
		_, err = s.publish(ctx, msg)
	}
	if err == nil && s.held(account, job) {
		s.kickGate(account, batch.Key(job.ID))
	}
	// A lost message is republished by Reconcile at the next start.
	return wrap("queue reactivated task", err)
}

// UpdateTask replaces a task's constraints, validated and defaulted as on
// add. The dispatcher applies maxTaskRetryCount and retentionTime at once;
// maxWallClockTime is enforced by the node, so it applies to attempts queued
// after the update (a retry or a reactivation), not to one already queued or
// running.
func (s *Service) UpdateTask(ctx context.Context, account, jobID, taskID string, u *batch.TaskUpdate, cond Condition) (*state.TaskRecord, error) {
	job, err := s.GetJob(ctx, account, jobID)
	if err != nil {
		return nil, err
	}
	c, err := batch.ValidateTaskConstraints(u.Constraints, &job.Job)
	if err != nil {
		return nil, err
	}
	if batch.ValidID("taskId", taskID) != nil {
		return nil, batch.ErrTaskNotFound
	}
	key := topology.TaskKey(account, batch.Key(jobID), batch.Key(taskID))
	after, _, err := s.st.Tasks.Update(ctx, key, func(t *state.TaskRecord) error {
		if err := cond.Check(t.ETag, t.LastModified); err != nil {
			return err
		}
		cc := *c
		t.Constraints = &cc
		t.ETag, t.LastModified = s.st.Stamp()
		return nil
	})
	s.recs.del(key)
	return after, err
}

// DisableJob moves an active job to disabled (directly: natch has no
// disabling phase). None of its queued tasks is dispatched until the job is
// enabled. disableTasks says what happens to its running tasks: requeue
// kills them and makes them active again, terminate kills them and completes
// them with TaskEnded, wait lets them finish.
func (s *Service) DisableJob(ctx context.Context, account, id string, d *batch.JobDisable, cond Condition) error {
	if err := batch.ValidateJobDisable(d); err != nil {
		return err
	}
	if batch.ValidJobID("jobId", id) != nil {
		return batch.ErrJobNotFound
	}
	jobKey := batch.Key(id)
	key := topology.JobKey(account, jobKey)
	rec, _, err := s.st.Jobs.Update(ctx, key, func(j *state.JobRecord) error {
		if err := cond.Check(j.ETag, j.LastModified); err != nil {
			return err
		}
		if err := jobNotEnding(j); err != nil {
			return err
		}
		if j.State == batch.JobDisabled {
			return batch.Errorf(409, "JobDisabled", "The specified job is already disabled.")
		}
		s.setJobState(j, batch.JobDisabled)
		return nil
	})
	if err != nil {
		return err
	}
	s.jobs.del(key)
	if err := s.purgeJob(ctx, account, rec); err != nil {
		return err
	}
	if d.DisableTasks != batch.DisableWait {
		tasks, err := s.st.Tasks.List(ctx, topology.JobTaskKeys(account, jobKey))
		if err != nil {
			return err
		}
		for _, e := range tasks {
			t := e.Value
			if t.State != batch.TaskRunning {
				continue
			}
			if d.DisableTasks == batch.DisableTerminate {
				s.killOnNode(ctx, account, t, id, "The task was terminated because its job was disabled.")
				if _, err := s.endTask(ctx, account, id, t.ID, "The task was terminated because its job was disabled."); err != nil && !errors.Is(err, batch.ErrTaskNotFound) {
					return err
				}
				continue
			}
			if err := s.requeueDisabled(ctx, account, id, e.Key); err != nil && !errors.Is(err, batch.ErrTaskNotFound) {
				return err
			}
			s.killOnNode(ctx, account, t, id, "The task was requeued because its job was disabled.")
		}
	}
	// Again: a task added or retried while the job was read as active may
	// have been queued after the first purge.
	return s.purgeJob(ctx, account, rec)
}

// requeueDisabled puts a running task of a disabled job back to active as a
// new attempt, so that what the killed attempt reports is ignored.
func (s *Service) requeueDisabled(ctx context.Context, account, jobID, key string) error {
	var before *state.TaskRecord
	after, _, err := s.st.Tasks.Update(ctx, key, func(t *state.TaskRecord) error {
		if t.State != batch.TaskRunning {
			return state.ErrStop
		}
		before = cloneRecord(t)
		setTaskState(s.st, t, batch.TaskActive)
		ei := t.ExecutionInfo
		ei.RequeueCount++
		ei.LastRequeueTime = batch.At(s.st.Now())
		t.NodeInfo = nil
		t.Attempt++
		t.Delivery = 0
		return nil
	})
	s.recs.del(key)
	if err != nil || before == nil {
		return err
	}
	s.counts.add(topology.JobKey(account, batch.Key(jobID)), state.Delta(before, after))
	return nil
}

// EnableJob makes a disabled job active again and queues its active tasks.
func (s *Service) EnableJob(ctx context.Context, account, id string, cond Condition) error {
	if batch.ValidJobID("jobId", id) != nil {
		return batch.ErrJobNotFound
	}
	jobKey := batch.Key(id)
	key := topology.JobKey(account, jobKey)
	rec, _, err := s.st.Jobs.Update(ctx, key, func(j *state.JobRecord) error {
		if err := cond.Check(j.ETag, j.LastModified); err != nil {
			return err
		}
		if err := jobNotEnding(j); err != nil {
			return err
		}
		if j.State != batch.JobDisabled {
			return batch.Errorf(409, "JobNotDisabled", "The specified job is not disabled.")
		}
		s.setJobState(j, batch.JobActive)
		return nil
	})
	if err != nil {
		return err
	}
	s.jobs.del(key)
	return s.queueActive(ctx, account, rec)
}

// queueActive publishes the ready message of each active task of a job that
// has none queued. Each is published as a new attempt: the message of the
// attempt it had may have been purged within the stream's duplicate window,
// which would drop the same message id.
func (s *Service) queueActive(ctx context.Context, account string, job *state.JobRecord) error {
	str, err := s.js.Stream(ctx, topology.TasksStream)
	if err != nil {
		return err
	}
	jobKey := batch.Key(job.ID)
	held, err := s.js.Stream(ctx, topology.HeldStream)
	if err != nil {
		return err
	}
	var keys []string
	err = s.st.Tasks.Scan(ctx, topology.JobTaskKeys(account, jobKey), 0, func(e state.Entry[state.TaskRecord]) bool {
		if e.Value.State == batch.TaskActive {
			keys = append(keys, e.Key)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, key := range keys {
		skip := false
		t, _, err := s.st.Tasks.Update(ctx, key, func(t *state.TaskRecord) error {
			t.PoolKey = job.PoolKey // the job's pool may have changed while it was disabled
			skip = !t.Ready() || queued(ctx, str, topology.TaskSubject(account, t.PoolKey, jobKey, batch.Key(t.ID)), 0) ||
				(s.held(account, job) && queued(ctx, held, topology.HeldSubject(account, jobKey, batch.Key(t.ID)), 0))
			if skip {
				return state.ErrStop
			}
			t.Attempt++
			t.Delivery = 0
			return nil
		})
		s.recs.del(key)
		if errors.Is(err, batch.ErrTaskNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		msg, err := s.readyMsg(ctx, account, job, t)
		if err != nil {
			return err
		}
		if _, err := s.publish(ctx, msg); err != nil {
			return err
		}
	}
	if s.held(account, job) {
		s.kickGate(account, jobKey)
	}
	return nil
}

// purgeJob removes every queued ready message of a job, and tells the
// pool's nodes to drop those they hold for a slot.
func (s *Service) purgeJob(ctx context.Context, account string, job *state.JobRecord) error {
	str, err := s.js.Stream(ctx, topology.TasksStream)
	if err != nil {
		return err
	}
	if err := str.Purge(ctx, jetstream.WithPurgeSubject(topology.JobTasksFilter(account, job.PoolKey, batch.Key(job.ID)))); err != nil {
		return err
	}
	s.dropQueued(ctx, account, job.PoolKey, job.ID, "")
	return nil
}

// jobNotEnding refuses a change of a job that is ending or has ended.
func jobNotEnding(j *state.JobRecord) error {
	switch j.State {
	case batch.JobCompleted:
		return batch.Errorf(409, "JobCompleted", "The specified job is already in a completed state.")
	case batch.JobTerminating:
		return batch.Errorf(409, "JobBeingTerminated", "The specified job is being terminated.")
	case batch.JobDeleting:
		return batch.Errorf(409, "JobBeingDeleted", "The specified job is being deleted.")
	}
	return nil
}
