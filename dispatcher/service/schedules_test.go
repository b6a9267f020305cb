package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// manualClock is a clock the test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *manualClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type schedBundle struct {
	ctx   context.Context
	svc   *Service
	clock *manualClock
}

const schedAcct = "acct"

func setupSchedules(t *testing.T) *schedBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv)
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{}))
	clock := &manualClock{now: t0}
	st, err := state.Open(ctx, js, clock.Now)
	require.NoError(t, err)
	svc := New(nc, st, Config{})
	t.Cleanup(func() { svc.bgCancel(); svc.bg.Wait() })
	_, err = svc.AddPool(ctx, schedAcct, &batch.Pool{ID: "p", VMSize: "x"})
	require.NoError(t, err)
	return &schedBundle{ctx: ctx, svc: svc, clock: clock}
}

// eval runs the scheduler's decision for a schedule at the clock's time.
func (b *schedBundle) eval(t *testing.T, id string) time.Time {
	t.Helper()
	wake, err := b.svc.evalSchedule(b.ctx, topology.ScheduleKey(schedAcct, batch.Key(id)))
	require.NoError(t, err)
	return wake
}

func (b *schedBundle) schedule(t *testing.T, id string) *state.ScheduleRecord {
	t.Helper()
	rec, err := b.svc.GetJobSchedule(b.ctx, schedAcct, id)
	require.NoError(t, err)
	return rec
}

// jobs returns the ids and states of the schedule's jobs.
func (b *schedBundle) jobs(t *testing.T, id string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, b.svc.ScanScheduleJobs(b.ctx, schedAcct, id, 0, func(j *batch.Job, _ uint64) (bool, error) {
		out[j.ID] = j.State
		return true, nil
	}))
	return out
}

// complete terminates a job and waits until the schedule has seen it end.
func (b *schedBundle) complete(t *testing.T, schedID, jobID string) {
	t.Helper()
	require.NoError(t, b.svc.TerminateJob(b.ctx, schedAcct, jobID, "", Condition{}))
	require.Eventually(t, func() bool { return b.schedule(t, schedID).ActiveJob == "" }, 10*time.Second, 10*time.Millisecond)
}

func addSchedule(t *testing.T, b *schedBundle, id string, s batch.Schedule) {
	t.Helper()
	_, err := b.svc.AddJobSchedule(b.ctx, schedAcct, &batch.JobSchedule{ID: id, Schedule: &s,
		JobSpecification: &batch.JobSpecification{PoolInfo: &batch.PoolInformation{PoolID: "p"},
			OnAllTasksComplete: batch.OnAllTasksTerminate, Priority: batch.Int(7)}})
	require.NoError(t, err)
}

func TestScheduleCreatesOneJobPerRecurrence(t *testing.T) {
	t.Parallel()
	b := setupSchedules(t)
	addSchedule(t, b, "hourly", batch.Schedule{RecurrenceInterval: mins(60), StartWindow: mins(10)})
	require.Equal(t, at(0), b.schedule(t, "hourly").ExecutionInfo.NextRunTime.Time)

	require.Equal(t, at(60), b.eval(t, "hourly"), "wakes at the next recurrence")
	require.Equal(t, map[string]string{"hourly:job-1": batch.JobActive}, b.jobs(t, "hourly"))
	j, err := b.svc.GetJob(b.ctx, schedAcct, "hourly:job-1")
	require.NoError(t, err)
	require.Equal(t, batch.OnAllTasksTerminate, j.OnAllTasksComplete, "from the job specification")
	require.Equal(t, 7, *j.Priority)
	require.Equal(t, "p", j.ExecutionInfo.PoolID)
	rec := b.schedule(t, "hourly")
	require.Equal(t, "hourly:job-1", rec.ExecutionInfo.RecentJob.ID)
	require.Equal(t, at(60), rec.ExecutionInfo.NextRunTime.Time)

	// Evaluating again, or later within the same recurrence, creates nothing.
	b.eval(t, "hourly")
	b.clock.set(at(30))
	b.eval(t, "hourly")
	require.Len(t, b.jobs(t, "hourly"), 1)

	// Due while job-1 is active: the recurrence waits.
	b.clock.set(at(61))
	b.eval(t, "hourly")
	require.Len(t, b.jobs(t, "hourly"), 1, "at most one active job")
	require.Equal(t, at(60), b.schedule(t, "hourly").ExecutionInfo.NextRunTime.Time, "the waiting recurrence shows as next")

	// job-1 completes within the start window: job-2 runs.
	b.complete(t, "hourly", "hourly:job-1")
	b.clock.set(at(65))
	require.Equal(t, at(120), b.eval(t, "hourly"))
	require.Equal(t, map[string]string{"hourly:job-1": batch.JobCompleted, "hourly:job-2": batch.JobActive}, b.jobs(t, "hourly"))

	// job-2 outlives the next recurrence's start window: that one is skipped.
	b.clock.set(at(125))
	b.eval(t, "hourly")
	b.complete(t, "hourly", "hourly:job-2")
	b.clock.set(at(135))
	require.Equal(t, at(180), b.eval(t, "hourly"))
	require.Len(t, b.jobs(t, "hourly"), 2, "the 2h recurrence was missed by more than its start window")

	// After downtime: one job for the latest recurrence, no burst.
	b.clock.set(at(605))
	require.Equal(t, at(660), b.eval(t, "hourly"))
	require.Equal(t, map[string]string{"hourly:job-1": batch.JobCompleted, "hourly:job-2": batch.JobCompleted,
		"hourly:job-3": batch.JobActive}, b.jobs(t, "hourly"))
}

func TestScheduleWindowAndLifecycle(t *testing.T) {
	t.Parallel()
	b := setupSchedules(t)

	// doNotRunUntil, no recurrence, doNotRunAfter: one job, then completed.
	addSchedule(t, b, "once", batch.Schedule{DoNotRunUntil: batch.At(at(10)), DoNotRunAfter: batch.At(at(100))})
	require.Equal(t, at(10), b.eval(t, "once"), "waits for doNotRunUntil")
	require.Empty(t, b.jobs(t, "once"))
	b.clock.set(at(10))
	b.eval(t, "once")
	require.Equal(t, map[string]string{"once:job-1": batch.JobActive}, b.jobs(t, "once"))
	b.eval(t, "once")
	require.Equal(t, batch.ScheduleActive, b.schedule(t, "once").State, "completes only when its job has")
	b.complete(t, "once", "once:job-1")
	b.eval(t, "once")
	rec := b.schedule(t, "once")
	require.Equal(t, batch.ScheduleCompleted, rec.State)
	require.Equal(t, batch.ScheduleActive, rec.PreviousState)
	require.NotNil(t, rec.ExecutionInfo.EndTime)
	require.Nil(t, rec.ExecutionInfo.NextRunTime)

	// doNotRunAfter passes: the recurring schedule completes.
	b.clock.set(at(0))
	addSchedule(t, b, "until", batch.Schedule{RecurrenceInterval: mins(60), DoNotRunAfter: batch.At(at(90))})
	b.eval(t, "until")
	b.complete(t, "until", "until:job-1")
	b.clock.set(at(61))
	b.eval(t, "until")
	b.complete(t, "until", "until:job-2")
	b.clock.set(at(121))
	require.Zero(t, b.eval(t, "until"))
	require.Len(t, b.jobs(t, "until"), 2)
	require.Equal(t, batch.ScheduleCompleted, b.schedule(t, "until").State)

	// Disabled: no job; enabled again: the due recurrence runs.
	b.clock.set(at(0))
	addSchedule(t, b, "paused", batch.Schedule{RecurrenceInterval: mins(60)})
	require.NoError(t, b.svc.DisableJobSchedule(b.ctx, schedAcct, "paused", Condition{}))
	b.eval(t, "paused")
	require.Empty(t, b.jobs(t, "paused"))
	require.NoError(t, b.svc.EnableJobSchedule(b.ctx, schedAcct, "paused", Condition{}))
	b.eval(t, "paused")
	require.Len(t, b.jobs(t, "paused"), 1)

	// Terminate: the active job is terminated, then the schedule completes.
	require.NoError(t, b.svc.TerminateJobSchedule(b.ctx, schedAcct, "paused", Condition{}))
	require.Eventually(t, func() bool { return b.schedule(t, "paused").ActiveJob == "" }, 10*time.Second, 10*time.Millisecond)
	j, err := b.svc.GetJob(b.ctx, schedAcct, "paused:job-1")
	require.NoError(t, err)
	require.Equal(t, ReasonTerminateJobSchedule, j.ExecutionInfo.TerminateReason)
	b.eval(t, "paused")
	require.Equal(t, batch.ScheduleCompleted, b.schedule(t, "paused").State)
	err = b.svc.EnableJobSchedule(b.ctx, schedAcct, "paused", Condition{})
	require.ErrorIs(t, err, errScheduleCompleted)

	// Delete: its jobs go, then the schedule.
	require.NoError(t, b.svc.DeleteJobSchedule(b.ctx, schedAcct, "until", Condition{}))
	require.Eventually(t, func() bool {
		b.eval(t, "until")
		_, err := b.svc.GetJobSchedule(b.ctx, schedAcct, "until")
		return err != nil
	}, 10*time.Second, 50*time.Millisecond)
	_, err = b.svc.GetJob(b.ctx, schedAcct, "until:job-1")
	require.ErrorIs(t, err, batch.ErrJobNotFound)

	// Ids are shared by jobs and schedules.
	_, err = b.svc.AddJob(b.ctx, schedAcct, &batch.Job{ID: "ONCE", PoolInfo: &batch.PoolInformation{PoolID: "p"}})
	require.ErrorContains(t, err, "JobScheduleWithSameIdExists")
	_, err = b.svc.AddJob(b.ctx, schedAcct, &batch.Job{ID: "plain", PoolInfo: &batch.PoolInformation{PoolID: "p"}})
	require.NoError(t, err)
	_, err = b.svc.AddJobSchedule(b.ctx, schedAcct, &batch.JobSchedule{ID: "plain", Schedule: &batch.Schedule{},
		JobSpecification: &batch.JobSpecification{PoolInfo: &batch.PoolInformation{PoolID: "p"}}})
	require.ErrorContains(t, err, "JobWithSameIdExists")
}

// A dispatcher that stopped between claiming a recurrence and creating its
// job: the next evaluation (by any dispatcher) creates it, once.
func TestScheduleFinishesAnInterruptedClaim(t *testing.T) {
	t.Parallel()
	b := setupSchedules(t)
	addSchedule(t, b, "s", batch.Schedule{RecurrenceInterval: mins(60)})
	key := topology.ScheduleKey(schedAcct, "s")
	_, _, err := b.svc.st.Schedules.Update(b.ctx, key, func(r *state.ScheduleRecord) error {
		r.NextRecurrence, r.JobCount, r.ActiveJob = 1, 1, "s:job-1"
		return nil
	})
	require.NoError(t, err)
	b.eval(t, "s")
	require.Equal(t, map[string]string{"s:job-1": batch.JobActive}, b.jobs(t, "s"))
	require.True(t, b.schedule(t, "s").JobCreated)
	b.eval(t, "s")
	require.Len(t, b.jobs(t, "s"), 1)
}

// Two dispatchers on one NATS run the same schedule: each recurrence gets
// exactly one job, whichever dispatcher creates it.
func TestTwoDispatchersOneJobPerRecurrence(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := natstest.Server(t)
	var svcs []*Service
	for range 2 {
		nc, js := natstest.Connect(t, srv)
		require.NoError(t, topology.Ensure(ctx, js, topology.Options{}))
		st, err := state.Open(ctx, js, nil)
		require.NoError(t, err)
		svcs = append(svcs, New(nc, st, Config{MinRecurrence: 100 * time.Millisecond}))
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Go(func() { require.NoError(t, s.Run(runCtx)) })
	}
	defer func() { stop(); wg.Wait() }()
	a, b := svcs[0], svcs[1]
	_, err := a.AddPool(ctx, schedAcct, &batch.Pool{ID: "p", VMSize: "x"})
	require.NoError(t, err)
	every := 500 * time.Millisecond
	_, err = b.AddJobSchedule(ctx, schedAcct, &batch.JobSchedule{ID: "fast",
		Schedule:         &batch.Schedule{RecurrenceInterval: batch.D(every)},
		JobSpecification: &batch.JobSpecification{PoolInfo: &batch.PoolInformation{PoolID: "p"}}})
	require.NoError(t, err)

	// Each job completes at once (terminated by either dispatcher), so that
	// every recurrence may run.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		rec, err := a.GetJobSchedule(ctx, schedAcct, "fast")
		require.NoError(t, err)
		if rec.ActiveJob != "" && rec.JobCreated {
			require.NoError(t, ignoreConflict(svcs[rec.JobCount%2].TerminateJob(ctx, schedAcct, rec.ActiveJob, "", Condition{})))
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, a.DisableJobSchedule(ctx, schedAcct, "fast", Condition{}))
	rec, err := a.GetJobSchedule(ctx, schedAcct, "fast")
	require.NoError(t, err)
	slots := map[int64]string{}
	var n int
	require.NoError(t, a.ScanScheduleJobs(ctx, schedAcct, "fast", 0, func(j *batch.Job, _ uint64) (bool, error) {
		n++
		slot := int64(j.CreationTime.Sub(rec.Anchor.Time) / every)
		require.NotContains(t, slots, slot, "two jobs for one recurrence: %s and %s", slots[slot], j.ID)
		slots[slot] = j.ID
		return true, nil
	}))
	require.Equal(t, rec.JobCount, n, "every job the schedule counted exists")
	require.GreaterOrEqual(t, n, 5, "about one job per recurrence over 4 s at 500 ms")
	require.LessOrEqual(t, n, 9)
}
