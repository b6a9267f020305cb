package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestUpCrash kills natch up with SIGKILL while tasks run: its nodes die
// with it, and after a restart every accepted task still completes,
// requeued rather than retried.
func TestUpCrash(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	in := startUp(t, dataDir)
	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "x", "targetDedicatedNodes": 1, "taskSlotsPerNode": 2}, nil)
	in.waitNodes("p", 1, batch.NodeIdle)
	in.must(201, "POST", "/jobs", map[string]any{"id": "j", "poolInfo": map[string]any{"poolId": "p"}}, nil)
	var tasks []map[string]any
	for i := range 6 {
		tasks = append(tasks, map[string]any{"id": fmt.Sprintf("t%d", i), "commandLine": "sleep 1"})
	}
	in.must(200, "POST", "/jobs/j/addtaskcollection", map[string]any{"value": tasks}, nil)
	require.Eventually(t, func() bool { return in.counts("j").TaskCounts.Running == 2 }, 30*time.Second, 20*time.Millisecond)

	in.Kill(t)
	require.Eventually(t, func() bool { return len(workerPIDs(dataDir)) == 0 }, 10*time.Second, 50*time.Millisecond,
		"nodes outlived a killed natch up")

	in = startUp(t, dataDir)
	require.Eventually(t, func() bool { return in.counts("j").TaskCounts.Completed == 6 }, 60*time.Second, 100*time.Millisecond)
	requeued := 0
	for id, tk := range in.allTasks("j") {
		require.Equal(t, batch.ResultSuccess, tk.ExecutionInfo.Result, id)
		require.Equal(t, 0, tk.ExecutionInfo.RetryCount, id)
		requeued += tk.ExecutionInfo.RequeueCount
	}
	require.GreaterOrEqual(t, requeued, 2, "the tasks that were running when natch up died were requeued")
	in.stop()
}

// TestUpCrashWithDependencies kills natch up while a fan-in is half done:
// after a restart every parent completes and the merge task runs once,
// after all of them.
func TestUpCrashWithDependencies(t *testing.T) {
	t.Parallel()
	const parents = 60
	dataDir := t.TempDir()
	in := startUp(t, dataDir)
	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "x", "targetDedicatedNodes": 1, "taskSlotsPerNode": 4}, nil)
	in.waitNodes("p", 1, batch.NodeIdle)
	in.must(201, "POST", "/jobs", map[string]any{"id": "j", "poolInfo": map[string]any{"poolId": "p"},
		"usesTaskDependencies": true, "maxParallelTasks": 3}, nil)
	in.must(201, "POST", "/jobs/j/tasks", map[string]any{"id": "merge", "commandLine": "true",
		"dependsOn": map[string]any{"taskIdRanges": []any{map[string]int{"start": 0, "end": parents - 1}}}}, nil)
	var tasks []map[string]any
	for i := range parents {
		tasks = append(tasks, map[string]any{"id": fmt.Sprintf("%d", i), "commandLine": "sleep 0.1"})
	}
	in.must(200, "POST", "/jobs/j/addtaskcollection", map[string]any{"value": tasks}, nil)
	require.Eventually(t, func() bool { return in.counts("j").TaskCounts.Completed >= parents/3 }, 60*time.Second, 20*time.Millisecond)

	in.Kill(t)
	require.Eventually(t, func() bool { return len(workerPIDs(dataDir)) == 0 }, 10*time.Second, 50*time.Millisecond)
	in = startUp(t, dataDir)
	require.Eventually(t, func() bool { return in.counts("j").TaskCounts.Completed == parents+1 }, 90*time.Second, 100*time.Millisecond,
		"not all done after the restart: %+v", in.counts("j"))
	all := in.allTasks("j")
	merge := all["merge"].ExecutionInfo
	require.Equal(t, batch.ResultSuccess, merge.Result)
	require.Zero(t, merge.RetryCount)
	for id, tk := range all {
		if id == "merge" {
			continue
		}
		require.Equal(t, batch.ResultSuccess, tk.ExecutionInfo.Result, id)
		require.False(t, merge.StartTime.Before(tk.ExecutionInfo.EndTime.Time), "merge started before %s ended", id)
	}
	in.stop()
}
