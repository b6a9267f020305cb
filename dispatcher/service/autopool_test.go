package service

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

func autoPoolInfo(lifetime string, keepAlive bool) *batch.PoolInformation {
	return &batch.PoolInformation{AutoPoolSpecification: &batch.AutoPoolSpecification{AutoPoolIDPrefix: "ap",
		PoolLifetimeOption: lifetime, KeepAlive: batch.Bool(keepAlive),
		Pool: &batch.PoolSpecification{VMSize: "x", TargetDedicatedNodes: batch.Int(2)}}}
}

func (b *schedBundle) poolState(t *testing.T, id string) string {
	t.Helper()
	p, err := b.svc.GetPool(b.ctx, schedAcct, id)
	if err != nil {
		require.ErrorIs(t, err, batch.ErrPoolNotFound)
		return "gone"
	}
	return p.State
}

func TestAutoPoolOfAJob(t *testing.T) {
	t.Parallel()
	b := setupSchedules(t)
	for _, keep := range []bool{false, true} {
		id := "job-keep-" + map[bool]string{false: "no", true: "yes"}[keep]
		_, err := b.svc.AddJob(b.ctx, schedAcct, &batch.Job{ID: id, PoolInfo: autoPoolInfo("job", keep)})
		require.NoError(t, err)
		j, err := b.svc.GetJob(b.ctx, schedAcct, id)
		require.NoError(t, err)
		poolID := j.ExecutionInfo.PoolID
		require.True(t, strings.HasPrefix(poolID, "ap_"), poolID)
		require.NotNil(t, j.PoolInfo.AutoPoolSpecification, "poolInfo stays as given")
		p, err := b.svc.GetPool(b.ctx, schedAcct, poolID)
		require.NoError(t, err)
		require.Equal(t, 2, *p.TargetDedicatedNodes, "the pool of the specification")
		require.Equal(t, batch.PoolActive, p.State)

		_, err = b.svc.AddJob(b.ctx, schedAcct, &batch.Job{ID: id, PoolInfo: autoPoolInfo("job", keep)})
		require.ErrorIs(t, err, batch.ErrJobExists)
		pools, err := b.svc.ListPools(b.ctx, schedAcct)
		require.NoError(t, err)
		n := 0
		for _, p := range pools {
			if strings.HasPrefix(p.ID, "ap_") {
				n++
			}
		}
		require.Equal(t, map[bool]int{false: 1, true: 2}[keep], n, "a refused add leaves no pool behind")

		require.NoError(t, b.svc.TerminateJob(b.ctx, schedAcct, id, "", Condition{}))
		want := batch.PoolDeleting
		if keep {
			want = batch.PoolActive
		}
		require.Eventually(t, func() bool {
			j, err := b.svc.GetJob(b.ctx, schedAcct, id)
			require.NoError(t, err)
			return j.State == batch.JobCompleted && b.poolState(t, poolID) == want
		}, 10*time.Second, 10*time.Millisecond, "keepAlive %v: the pool is %s when the job completes", keep, want)
	}
}

func TestAutoPoolOfASchedule(t *testing.T) {
	t.Parallel()
	b := setupSchedules(t)
	add := func(id, lifetime string) {
		_, err := b.svc.AddJobSchedule(b.ctx, schedAcct, &batch.JobSchedule{ID: id,
			Schedule:         &batch.Schedule{RecurrenceInterval: mins(60)},
			JobSpecification: &batch.JobSpecification{PoolInfo: autoPoolInfo(lifetime, false)}})
		require.NoError(t, err)
	}
	poolOf := func(job string) string {
		j, err := b.svc.GetJob(b.ctx, schedAcct, job)
		require.NoError(t, err)
		return j.ExecutionInfo.PoolID
	}

	// Lifetime jobschedule: every job on one pool, deleted when the schedule completes.
	add("shared", "jobschedule")
	b.eval(t, "shared")
	first := poolOf("shared:job-1")
	b.complete(t, "shared", "shared:job-1")
	require.Equal(t, batch.PoolActive, b.poolState(t, first), "the pool outlives the schedule's jobs")
	b.clock.set(at(60))
	b.eval(t, "shared")
	require.Equal(t, first, poolOf("shared:job-2"))
	require.NoError(t, b.svc.TerminateJobSchedule(b.ctx, schedAcct, "shared", Condition{}))
	require.Eventually(t, func() bool { return b.schedule(t, "shared").ActiveJob == "" }, 10*time.Second, 10*time.Millisecond)
	b.eval(t, "shared")
	require.Equal(t, batch.ScheduleCompleted, b.schedule(t, "shared").State)
	require.Equal(t, batch.PoolDeleting, b.poolState(t, first))

	// Lifetime job: a pool per job, deleted with it.
	b.clock.set(at(0))
	add("each", "job")
	b.eval(t, "each")
	p1 := poolOf("each:job-1")
	b.complete(t, "each", "each:job-1")
	require.Eventually(t, func() bool { return b.poolState(t, p1) == batch.PoolDeleting }, 10*time.Second, 10*time.Millisecond)
	b.clock.set(at(60))
	b.eval(t, "each")
	p2 := poolOf("each:job-2")
	require.NotEqual(t, p1, p2)
	require.Equal(t, batch.PoolActive, b.poolState(t, p2))
}
