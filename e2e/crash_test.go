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
