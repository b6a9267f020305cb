package e2e

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

type jobList struct {
	Value []batch.Job `json:"value"`
}

// A job schedule recurring every 2 s over ~10 s on `natch up` with a real
// node: one job per recurrence ("<schedule>:job-<n>"), each created only
// after the previous one completed, and each job's task runs on the node.
// The task is added by the test when its job appears, as a client would
// (natch does not run job manager tasks yet).
func TestScheduleRunsAJobPerRecurrence(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir(), "--min-recurrence", "1s")
	defer in.stop()
	in.must(201, "POST", "/pools", map[string]any{"id": "sp", "vmSize": "x", "targetDedicatedNodes": 1}, nil)
	in.waitNodes("sp", 1, batch.NodeIdle)

	every := 2 * time.Second
	in.must(201, "POST", "/jobschedules", map[string]any{
		"id":       "tick",
		"schedule": map[string]any{"recurrenceInterval": "PT2S"},
		"jobSpecification": map[string]any{
			"poolInfo":           map[string]any{"poolId": "sp"},
			"onAllTasksComplete": "terminatejob",
		},
	}, nil)
	withTask := map[string]bool{}
	addTasks := func() {
		var l jobList
		in.must(200, "GET", "/jobschedules/tick/jobs", nil, &l)
		for _, j := range l.Value {
			if !withTask[j.ID] {
				in.must(201, "POST", "/jobs/"+j.ID+"/tasks", map[string]any{"id": "t", "commandLine": "/bin/sh -c 'echo $AZ_BATCH_JOB_ID'"}, nil)
				withTask[j.ID] = true
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		addTasks()
		time.Sleep(50 * time.Millisecond)
	}
	in.must(204, "POST", "/jobschedules/tick/disable", nil, nil)
	addTasks() // a job created just before the disable

	var sched batch.JobSchedule
	in.must(200, "GET", "/jobschedules/tick", nil, &sched)
	var l jobList
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobschedules/tick/jobs", nil, &l)
		for _, j := range l.Value {
			if j.State != batch.JobCompleted {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "every job of the schedule completes")
	require.GreaterOrEqual(t, len(l.Value), 4, "about one job per 2 s recurrence over 10 s: %d", len(l.Value))
	require.LessOrEqual(t, len(l.Value), 6)
	sort.Slice(l.Value, func(i, k int) bool { return l.Value[i].CreationTime.Before(l.Value[k].CreationTime.Time) })
	first := l.Value[0].CreationTime.Time
	slots := map[int64]string{}
	for i, j := range l.Value {
		require.Equal(t, batch.ScheduleJobID("tick", i+1), j.ID, "jobs are numbered in order")
		require.Equal(t, "AllTasksComplete", j.ExecutionInfo.TerminateReason)
		slot := int64((j.CreationTime.Sub(first) + every/2) / every) // the recurrence it was created for
		require.NotContains(t, slots, slot, "two jobs in one recurrence: %s and %s", slots[slot], j.ID)
		slots[slot] = j.ID
		if i > 0 {
			prev := l.Value[i-1]
			require.False(t, j.CreationTime.Before(prev.ExecutionInfo.EndTime.Time), "%s began before %s ended", j.ID, prev.ID)
		}
		task := in.allTasks(j.ID)["t"]
		require.Equal(t, batch.TaskCompleted, task.State, j.ID)
		require.Equal(t, batch.ResultSuccess, task.ExecutionInfo.Result, j.ID)
		require.NotNil(t, task.NodeInfo, "%s's task ran on a node", j.ID)
	}
	require.Equal(t, l.Value[len(l.Value)-1].ID, sched.ExecutionInfo.RecentJob.ID)

	// Deleting the schedule deletes its jobs.
	in.must(202, "DELETE", "/jobschedules/tick", nil, nil)
	require.Eventually(t, func() bool {
		code, _ := in.call("GET", "/jobschedules/tick", nil, nil)
		return code == 404
	}, 20*time.Second, 100*time.Millisecond)
	code, _ := in.call("GET", "/jobs/tick:job-1", nil, nil)
	require.Equal(t, 404, code)
}

// A job with an auto pool on `natch up`: the pool is created with the job,
// its node runs the job's task, and pool and node go away when the job
// completes.
func TestAutoPoolJobRunsAndEnds(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	in := startUp(t, dataDir)
	defer in.stop()
	in.must(201, "POST", "/jobs", map[string]any{
		"id":                 "aj",
		"onAllTasksComplete": "terminatejob",
		"poolInfo": map[string]any{"autoPoolSpecification": map[string]any{
			"autoPoolIdPrefix": "auto", "poolLifetimeOption": "job",
			"pool": map[string]any{"vmSize": "x", "targetDedicatedNodes": 1},
		}},
	}, nil)
	var j batch.Job
	in.must(200, "GET", "/jobs/aj", nil, &j)
	pool := j.ExecutionInfo.PoolID
	require.Regexp(t, `^auto_[0-9A-F]{32}$`, pool)
	in.must(201, "POST", "/jobs/aj/tasks", map[string]any{"id": "t", "commandLine": "/bin/sh -c 'echo $AZ_BATCH_POOL_ID'"}, nil)
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/aj", nil, &j)
		return j.State == batch.JobCompleted
	}, 60*time.Second, 100*time.Millisecond, "the job's task runs on its auto pool's node")
	task := in.allTasks("aj")["t"]
	require.Equal(t, batch.ResultSuccess, task.ExecutionInfo.Result)
	require.Equal(t, pool, task.NodeInfo.PoolID)
	require.Eventually(t, func() bool {
		code, _ := in.call("GET", "/pools/"+pool, nil, nil)
		return code == 404 && len(workerPIDs(dataDir)) == 0
	}, 30*time.Second, 100*time.Millisecond, "the auto pool and its node are gone")
}
