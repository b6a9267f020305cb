package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestScaleInDeallocationOptions shrinks a busy pool with each
// nodeDeallocationOption and checks what happens to the task on the node
// that leaves: taskcompletion lets it finish (no requeue), terminate ends it
// with TaskEnded, and the pool ends at its new size.
func TestScaleInDeallocationOptions(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir())
	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2, "taskSlotsPerNode": 1}, nil)
	in.waitNodes("p", 2, "idle")

	run := func(job, command string) {
		in.must(201, "POST", "/jobs", map[string]any{"id": job, "poolInfo": map[string]any{"poolId": "p"}}, nil)
		for _, id := range []string{"a", "b"} {
			in.must(201, "POST", "/jobs/"+job+"/tasks", map[string]any{"id": id, "commandLine": command}, nil)
		}
		require.Eventually(t, func() bool { return in.counts(job).TaskCounts.Running == 2 }, 30*time.Second, 50*time.Millisecond,
			"both tasks never ran at once: %+v", in.counts(job))
	}

	// taskcompletion: both tasks finish where they run; nothing is requeued.
	run("drain", "sleep 3")
	in.must(202, "POST", "/pools/p/resize", map[string]any{"targetDedicatedNodes": 1, "nodeDeallocationOption": "taskcompletion"}, nil)
	require.Eventually(t, func() bool { return in.counts("drain").TaskCounts.Completed == 2 }, 30*time.Second, 100*time.Millisecond)
	for id, tk := range in.allTasks("drain") {
		require.Equal(t, batch.ResultSuccess, tk.ExecutionInfo.Result, id)
		require.Zero(t, tk.ExecutionInfo.RequeueCount, "task %s was requeued", id)
	}
	in.waitNodes("p", 1, "idle")

	// terminate: the leaving node's task ends with TaskEnded at once.
	in.must(202, "POST", "/pools/p/resize", map[string]any{"targetDedicatedNodes": 2}, nil)
	in.waitNodes("p", 2, "idle")
	run("term", "sleep 60")
	in.must(202, "POST", "/pools/p/resize", map[string]any{"targetDedicatedNodes": 1, "nodeDeallocationOption": "terminate"}, nil)
	var ended batch.Task
	require.Eventually(t, func() bool {
		for _, tk := range in.allTasks("term") {
			if tk.State == batch.TaskCompleted {
				ended = tk
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "no task was ended by the scale-in")
	require.Equal(t, "TaskEnded", ended.ExecutionInfo.FailureInfo.Code)
	in.waitNodes("p", 1, "idle", "running")
	require.Eventually(t, func() bool { return in.counts("term").TaskCounts.Running == 1 }, 10*time.Second, 50*time.Millisecond,
		"the task on the remaining node still runs (counts are eventually consistent)")
	in.must(202, "POST", "/jobs/term/terminate", nil, nil)
}
