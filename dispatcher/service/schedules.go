package service

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// scheduleRetry is how soon a schedule is looked at again after an error,
// or while it waits for its jobs to be deleted.
const scheduleRetry = time.Second

// runSchedules runs the job schedules: it creates each schedule's job at
// its recurrences (PlanRecurrence), completes, terminates and deletes
// schedules, and keeps their executionInfo up to date.
//
// It watches the schedules bucket, so it sees every schedule when it starts
// (the bounded scan) and every change of one afterwards, from whichever
// dispatcher; in between it sleeps until the earliest nextRunTime. Several
// dispatchers run this loop at once: a job is created only by the one whose
// compare-and-set of the schedule record (its next recurrence and job
// count) wins, so each recurrence gets exactly one job.
func (s *Service) runSchedules(ctx context.Context) error {
	w, err := s.st.Schedules.KV().WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	due := map[string]time.Time{} // key → when to evaluate; zero: now
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.st.Now()
		var earliest time.Time
		for key, at := range due {
			if at.After(now) {
				if earliest.IsZero() || at.Before(earliest) {
					earliest = at
				}
				continue
			}
			wake, err := s.evalSchedule(ctx, key)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				s.log.WarnContext(ctx, "job schedule", "key", key, "err", err)
				wake = s.st.Now().Add(scheduleRetry)
			}
			if wake.IsZero() {
				delete(due, key)
				continue
			}
			due[key] = wake
			if earliest.IsZero() || wake.Before(earliest) {
				earliest = wake
			}
		}
		timer.Stop()
		var tick <-chan time.Time
		if !earliest.IsZero() {
			timer.Reset(max(time.Until(earliest), time.Millisecond))
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("job schedules: the watch ended")
			}
			if e == nil { // the initial values are in
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				delete(due, e.Key())
				continue
			}
			due[e.Key()] = time.Time{}
		case <-tick:
		}
	}
}

// evalSchedule brings one schedule up to date at the current time and
// returns when it must be looked at again (zero: only when it changes).
func (s *Service) evalSchedule(ctx context.Context, key string) (time.Time, error) {
	account, _, _ := cut(key)
	for range 20 { // compare-and-set rounds
		rec, rev, err := s.st.Schedules.Get(ctx, key)
		if errors.Is(err, batch.ErrJobScheduleNotFound) {
			return time.Time{}, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		now := s.st.Now()
		if rec.ActiveJob != "" {
			job, err := s.GetJob(ctx, account, rec.ActiveJob)
			switch {
			case errors.Is(err, batch.ErrJobNotFound) && !rec.JobCreated && rec.State != batch.ScheduleDeleting:
				// Claimed, but the claimer stopped before creating it.
				if err := s.createScheduleJob(ctx, account, key, rec); err != nil {
					return time.Time{}, err
				}
				continue
			case errors.Is(err, batch.ErrJobNotFound) || (err == nil && job.State == batch.JobCompleted):
				// It ended, and its end was not recorded (a dispatcher stopped).
				rec.ActiveJob, rec.JobCreated = "", false
				if _, _, err := s.st.Schedules.UpdateAt(ctx, key, rec, rev); err != nil {
					return time.Time{}, err
				}
				continue // written or changed meanwhile: look again
			case err != nil:
				return time.Time{}, err
			}
		}
		switch rec.State {
		case batch.ScheduleDeleting:
			left, err := s.deleteScheduleJobs(ctx, account, rec)
			if err != nil {
				return time.Time{}, err
			}
			if left > 0 {
				return now.Add(scheduleRetry), nil
			}
			if err := s.st.Schedules.Delete(ctx, key); err != nil {
				return time.Time{}, err
			}
			s.scheduleEnded(ctx, account, rec)
			return time.Time{}, nil
		case batch.ScheduleCompleted:
			return time.Time{}, nil
		case batch.ScheduleTerminating:
			if rec.ActiveJob != "" {
				// Completes when its job has: the job's end updates the record.
				return time.Time{}, ignoreConflict(s.TerminateJob(ctx, account, rec.ActiveJob, ReasonTerminateJobSchedule, Condition{}))
			}
			s.setScheduleState(rec, batch.ScheduleCompleted)
			if _, ok, err := s.st.Schedules.UpdateAt(ctx, key, rec, rev); err != nil || ok {
				if ok {
					s.scheduleEnded(ctx, account, rec)
				}
				return time.Time{}, err
			}
			continue
		case batch.ScheduleDisabled:
			return time.Time{}, nil
		}
		plan := PlanRecurrence(*rec.Schedule, rec.Anchor.Time, rec.NextRecurrence, now)
		switch {
		case plan.Done && rec.ActiveJob == "":
			s.setScheduleState(rec, batch.ScheduleCompleted)
		case plan.Run && rec.ActiveJob == "":
			rec.NextRecurrence = plan.K + 1
			rec.JobCount++
			rec.ActiveJob, rec.JobCreated = batch.ScheduleJobID(rec.ID, rec.JobCount), false
			rec.ExecutionInfo.RecentJob = &batch.RecentJob{ID: rec.ActiveJob}
			rec.ExecutionInfo.NextRunTime = timeOrNil(plan.Next)
			rec.ETag, rec.LastModified = s.st.Stamp()
			if _, ok, err := s.st.Schedules.UpdateAt(ctx, key, rec, rev); err != nil || !ok {
				if err != nil {
					return time.Time{}, err
				}
				continue // another dispatcher changed it (and may have run this recurrence)
			}
			s.log.InfoContext(ctx, "job schedule creates a job", "schedule", rec.ID, "job", rec.ActiveJob, "due", plan.Due)
			if err := s.createScheduleJob(ctx, account, key, rec); err != nil {
				return time.Time{}, err
			}
			return plan.Next, nil
		default:
			// Nothing to run now: waiting for its due time, or for its
			// active job (then the due recurrence shows as the next run).
			next := plan.Next
			if plan.Run {
				next = plan.Due
			}
			if sameTime(rec.ExecutionInfo.NextRunTime, next) {
				return plan.Next, nil
			}
			rec.ExecutionInfo.NextRunTime = timeOrNil(next)
		}
		if _, ok, err := s.st.Schedules.UpdateAt(ctx, key, rec, rev); err != nil {
			return time.Time{}, err
		} else if ok {
			if rec.State == batch.ScheduleCompleted {
				s.scheduleEnded(ctx, account, rec)
			}
			return plan.Next, nil
		}
	}
	return s.st.Now().Add(scheduleRetry), nil
}

// createScheduleJob creates the job a schedule record claimed (ActiveJob)
// from its job specification, then records that it exists. A job that
// cannot be created (its pool is gone, say) is given up: the schedule runs
// again at its next recurrence.
func (s *Service) createScheduleJob(ctx context.Context, account, key string, rec *state.ScheduleRecord) error {
	id := rec.ActiveJob
	j := rec.JobSpecification.Job(id)
	autoPool := ""
	if a := j.PoolInfo.AutoPoolSpecification; a != nil {
		autoPool = rec.AutoPoolID // lifetime jobschedule: one pool for all its jobs
		if a.PoolLifetimeOption == batch.AutoPoolJob {
			autoPool = batch.AutoPoolID(a.AutoPoolIDPrefix, key+"/"+batch.Key(id)+"/"+rec.CreationTime.String())
		}
	}
	_, err := s.addJob(ctx, account, &j, batch.Key(rec.ID), autoPool)
	created := err == nil || errors.Is(err, batch.ErrJobExists)
	var be *batch.Error
	if !created && !(errors.As(err, &be) && be.Status < 500) {
		return err // try again
	}
	if !created {
		s.log.WarnContext(ctx, "job schedule could not create its job", "schedule", rec.ID, "job", id, "err", err)
	}
	_, _, err = s.st.Schedules.Update(ctx, key, func(r *state.ScheduleRecord) error {
		if r.ActiveJob != id || r.JobCreated {
			return state.ErrStop
		}
		if created {
			r.JobCreated = true
		} else {
			r.ActiveJob = ""
		}
		return nil
	})
	if errors.Is(err, batch.ErrJobScheduleNotFound) {
		return nil
	}
	return err
}

// scheduleJobEnded tells a job's schedule that the job completed or was
// deleted, so that the schedule may create the next one.
func (s *Service) scheduleJobEnded(ctx context.Context, account string, job *state.JobRecord) {
	if job.ScheduleKey == "" {
		return
	}
	_, _, err := s.st.Schedules.Update(ctx, topology.ScheduleKey(account, job.ScheduleKey), func(r *state.ScheduleRecord) error {
		if batch.Key(r.ActiveJob) != batch.Key(job.ID) {
			return state.ErrStop
		}
		r.ActiveJob, r.JobCreated = "", false
		return nil
	})
	if err != nil && !errors.Is(err, batch.ErrJobScheduleNotFound) {
		// The schedule's next evaluation finds the job completed all the same.
		s.log.WarnContext(ctx, "job schedule: record a job's end", "job", job.ID, "err", err)
	}
}

// scheduleEnded deletes the auto pool a completed or deleted schedule's
// jobs shared (lifetime jobschedule), unless it is kept alive.
func (s *Service) scheduleEnded(ctx context.Context, account string, rec *state.ScheduleRecord) {
	if rec.AutoPoolID == "" {
		return
	}
	a := &batch.AutoPoolSpecification{}
	if spec := rec.JobSpecification; spec != nil && spec.PoolInfo != nil && spec.PoolInfo.AutoPoolSpecification != nil {
		a = spec.PoolInfo.AutoPoolSpecification
	}
	s.endAutoPool(ctx, account, rec.AutoPoolID, a)
}

// deleteScheduleJobs starts deleting every job of a schedule and returns
// how many are still there.
func (s *Service) deleteScheduleJobs(ctx context.Context, account string, rec *state.ScheduleRecord) (int, error) {
	left := 0
	for n := 1; n <= rec.JobCount; n++ {
		id := batch.ScheduleJobID(rec.ID, n)
		j, err := s.GetJob(ctx, account, id)
		if errors.Is(err, batch.ErrJobNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		left++
		if j.State != batch.JobDeleting {
			if err := ignoreConflict(s.DeleteJob(ctx, account, id, Condition{})); err != nil {
				return 0, err
			}
		}
	}
	return left, nil
}

func timeOrNil(t time.Time) *batch.Time {
	if t.IsZero() {
		return nil
	}
	return batch.At(t)
}

func sameTime(a *batch.Time, b time.Time) bool {
	if a == nil {
		return b.IsZero()
	}
	return !b.IsZero() && a.Equal(b)
}
