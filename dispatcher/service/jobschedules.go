package service

import (
	"context"
	"errors"
	"time"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// ReasonTerminateJobSchedule is the terminateReason of a job ended because
// its job schedule was terminated.
const ReasonTerminateJobSchedule = "TerminateJobSchedule"

// AddJobSchedule creates a job schedule. Its jobs are created by the
// scheduler (runSchedules) at each recurrence.
func (s *Service) AddJobSchedule(ctx context.Context, account string, js *batch.JobSchedule) (*state.ScheduleRecord, error) {
	if err := batch.ValidateJobScheduleAdd(js, s.cfg.MinRecurrence); err != nil {
		return nil, err
	}
	// Jobs and job schedules share one namespace of ids.
	if _, _, err := s.st.Jobs.Get(ctx, topology.JobKey(account, batch.Key(js.ID))); err == nil {
		return nil, batch.Errorf(409, "JobWithSameIdExists", "A job with the same id exists.").With("PropertyName", "id")
	} else if !errors.Is(err, batch.ErrJobNotFound) {
		return nil, err
	}
	nowT := s.st.Now()
	now := batch.At(nowT)
	rec := &state.ScheduleRecord{JobSchedule: *js}
	rec.ETag, rec.LastModified = s.st.Stamp()
	rec.URL, rec.CreationTime, rec.State, rec.StateTransitionTime = "", now, batch.ScheduleActive, now
	rec.PreviousState, rec.PreviousStateTransitionTime, rec.Stats = "", nil, nil
	rec.ExecutionInfo = &batch.JobScheduleExecutionInformation{}
	s.restartSchedule(rec, nowT)
	key := topology.ScheduleKey(account, batch.Key(js.ID))
	setScheduleAutoPool(rec, key)
	if _, err := s.st.Schedules.Create(ctx, key, rec); err != nil {
		return nil, wrap("add job schedule", err)
	}
	return rec, nil
}

// GetJobSchedule returns a job schedule.
func (s *Service) GetJobSchedule(ctx context.Context, account, id string) (*state.ScheduleRecord, error) {
	if batch.ValidID("jobScheduleId", id) != nil {
		return nil, batch.ErrJobScheduleNotFound
	}
	rec, _, err := s.st.Schedules.Get(ctx, topology.ScheduleKey(account, batch.Key(id)))
	return rec, err
}

// ScanJobSchedules calls fn with the account's job schedules in the order
// they last changed, after revision after, until fn returns false.
func (s *Service) ScanJobSchedules(ctx context.Context, account string, after uint64, fn func(*batch.JobSchedule, uint64) (bool, error)) error {
	var ferr error
	err := s.st.Schedules.Scan(ctx, account+".*", after, func(e state.Entry[state.ScheduleRecord]) bool {
		var more bool
		more, ferr = fn(&e.Value.JobSchedule, e.Revision)
		return more && ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}

// ScanScheduleJobs calls fn with the jobs a schedule created, in the order
// it created them, starting after the after-th, until fn returns false. The
// second argument of fn is the job's number (its continuation token).
func (s *Service) ScanScheduleJobs(ctx context.Context, account, id string, after uint64, fn func(*batch.Job, uint64) (bool, error)) error {
	rec, err := s.GetJobSchedule(ctx, account, id)
	if err != nil {
		return err
	}
	for n := int(after) + 1; n <= rec.JobCount; n++ {
		j, _, err := s.st.Jobs.Get(ctx, topology.JobKey(account, batch.Key(batch.ScheduleJobID(rec.ID, n))))
		if errors.Is(err, batch.ErrJobNotFound) {
			continue // deleted
		}
		if err != nil {
			return err
		}
		more, err := fn(&j.Job, uint64(n))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// PatchJobSchedule changes the schedule, job specification or metadata of
// a job schedule: patch (replace false) changes what p supplies, update
// (replace true) replaces all three. A new schedule starts over from the
// time of the change, as on add; a new job specification applies to the
// jobs created afterwards.
func (s *Service) PatchJobSchedule(ctx context.Context, account, id string, p *batch.JobSchedulePatch, replace bool, cond Condition) (*state.ScheduleRecord, error) {
	if batch.ValidID("jobScheduleId", id) != nil {
		return nil, batch.ErrJobScheduleNotFound
	}
	if err := batch.ValidateJobSchedulePatch(p, replace, s.cfg.MinRecurrence); err != nil {
		return nil, err
	}
	rec, _, err := s.st.Schedules.Update(ctx, topology.ScheduleKey(account, batch.Key(id)), func(r *state.ScheduleRecord) error {
		if err := cond.Check(r.ETag, r.LastModified); err != nil {
			return err
		}
		if err := scheduleNotEnded(r); err != nil {
			return err
		}
		if p.JobSpecification != nil {
			r.JobSpecification = p.JobSpecification
			setScheduleAutoPool(r, topology.ScheduleKey(account, batch.Key(id)))
		}
		if replace || p.Metadata != nil {
			r.Metadata = p.Metadata
		}
		if p.Schedule != nil {
			r.Schedule = p.Schedule
			s.restartSchedule(r, s.st.Now())
		}
		r.ETag, r.LastModified = s.st.Stamp()
		return nil
	})
	return rec, err
}

// setScheduleAutoPool names the pool a schedule's jobs share when its job
// specification asks for an auto pool with lifetime jobschedule (once: the
// name stays when the specification changes).
func setScheduleAutoPool(r *state.ScheduleRecord, key string) {
	spec := r.JobSpecification
	if r.AutoPoolID != "" || spec.PoolInfo == nil || spec.PoolInfo.AutoPoolSpecification == nil ||
		spec.PoolInfo.AutoPoolSpecification.PoolLifetimeOption != batch.AutoPoolJobSchedule {
		return
	}
	r.AutoPoolID = batch.AutoPoolID(spec.PoolInfo.AutoPoolSpecification.AutoPoolIDPrefix, key+"/"+r.CreationTime.String())
}

// restartSchedule starts a schedule's recurrences over: the first is due
// at doNotRunUntil, or now.
func (s *Service) restartSchedule(r *state.ScheduleRecord, now time.Time) {
	r.Anchor = batch.Time{Time: now.UTC()}
	if r.Schedule.DoNotRunUntil != nil && r.Schedule.DoNotRunUntil.After(now) {
		r.Anchor = *r.Schedule.DoNotRunUntil
	}
	r.NextRecurrence = 0
	if r.ExecutionInfo == nil {
		r.ExecutionInfo = &batch.JobScheduleExecutionInformation{}
	}
	r.ExecutionInfo.NextRunTime = nil
	if plan := PlanRecurrence(*r.Schedule, r.Anchor.Time, 0, now); plan.Run {
		r.ExecutionInfo.NextRunTime = batch.At(plan.Due)
	} else if !plan.Next.IsZero() {
		r.ExecutionInfo.NextRunTime = batch.At(plan.Next)
	}
}

// DisableJobSchedule stops a schedule from creating jobs until it is
// enabled; its active job is not affected. Disabling a disabled schedule
// changes nothing.
func (s *Service) DisableJobSchedule(ctx context.Context, account, id string, cond Condition) error {
	return s.scheduleTransition(ctx, account, id, cond, func(r *state.ScheduleRecord) (string, error) {
		if err := scheduleNotEnded(r); err != nil {
			return "", err
		}
		return batch.ScheduleDisabled, nil
	})
}

// EnableJobSchedule lets a disabled schedule create jobs again; a
// recurrence that fell due while it was disabled runs if its start window
// has not passed. Enabling an active schedule changes nothing.
func (s *Service) EnableJobSchedule(ctx context.Context, account, id string, cond Condition) error {
	return s.scheduleTransition(ctx, account, id, cond, func(r *state.ScheduleRecord) (string, error) {
		if err := scheduleNotEnded(r); err != nil {
			return "", err
		}
		return batch.ScheduleActive, nil
	})
}

// TerminateJobSchedule ends a schedule: it creates no more jobs, its
// active job is terminated (reason TerminateJobSchedule), and once that
// job has completed the schedule is completed.
func (s *Service) TerminateJobSchedule(ctx context.Context, account, id string, cond Condition) error {
	var active string
	err := s.scheduleTransition(ctx, account, id, cond, func(r *state.ScheduleRecord) (string, error) {
		if err := scheduleNotEnded(r); err != nil {
			return "", err
		}
		active = r.ActiveJob
		return batch.ScheduleTerminating, nil
	})
	if err != nil || active == "" {
		return err
	}
	return ignoreConflict(s.TerminateJob(ctx, account, active, ReasonTerminateJobSchedule, Condition{}))
}

// DeleteJobSchedule deletes a schedule and every job it created; the
// schedule shows state deleting until its jobs are gone.
func (s *Service) DeleteJobSchedule(ctx context.Context, account, id string, cond Condition) error {
	return s.scheduleTransition(ctx, account, id, cond, func(r *state.ScheduleRecord) (string, error) {
		if r.State == batch.ScheduleDeleting {
			return "", errScheduleDeleting
		}
		return batch.ScheduleDeleting, nil
	})
}

// scheduleTransition moves a schedule to the state decide returns, by
// compare-and-set; the same state changes nothing.
func (s *Service) scheduleTransition(ctx context.Context, account, id string, cond Condition, decide func(*state.ScheduleRecord) (string, error)) error {
	if batch.ValidID("jobScheduleId", id) != nil {
		return batch.ErrJobScheduleNotFound
	}
	_, _, err := s.st.Schedules.Update(ctx, topology.ScheduleKey(account, batch.Key(id)), func(r *state.ScheduleRecord) error {
		if err := cond.Check(r.ETag, r.LastModified); err != nil {
			return err
		}
		to, err := decide(r)
		if err != nil {
			return err
		}
		if to == r.State {
			return state.ErrStop
		}
		s.setScheduleState(r, to)
		return nil
	})
	return err
}

func (s *Service) setScheduleState(r *state.ScheduleRecord, to string) {
	now := batch.At(s.st.Now())
	r.ETag, r.LastModified = s.st.Stamp()
	r.PreviousState, r.PreviousStateTransitionTime = r.State, r.StateTransitionTime
	r.State, r.StateTransitionTime = to, now
	if r.ExecutionInfo == nil {
		r.ExecutionInfo = &batch.JobScheduleExecutionInformation{}
	}
	if to == batch.ScheduleCompleted {
		r.ExecutionInfo.EndTime = now
		r.ExecutionInfo.NextRunTime = nil
	}
}

var (
	errScheduleDeleting    = batch.Errorf(409, "JobScheduleBeingDeleted", "The specified job schedule is being deleted.")
	errScheduleTerminating = batch.Errorf(409, "JobScheduleBeingTerminated", "The specified job schedule is being terminated.")
	errScheduleCompleted   = batch.Errorf(409, "JobScheduleCompleted", "The specified job schedule is already in a completed state.")
)

// scheduleNotEnded refuses a change of a schedule that is ending or has ended.
func scheduleNotEnded(r *state.ScheduleRecord) error {
	switch r.State {
	case batch.ScheduleDeleting:
		return errScheduleDeleting
	case batch.ScheduleTerminating:
		return errScheduleTerminating
	case batch.ScheduleCompleted:
		return errScheduleCompleted
	}
	return nil
}

// ignoreConflict drops a 409: the state is already what was asked for
// (a job already ending, say).
func ignoreConflict(err error) error {
	var be *batch.Error
	if errors.As(err, &be) && (be.Status == 409 || be.Status == 404) {
		return nil
	}
	return err
}
