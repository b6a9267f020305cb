package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestAutoScale: an autoscale pool with a 1 s interval starts empty, grows
// when 100 tasks arrive, runs each of them exactly once and shrinks back to
// no nodes when they are done.
func TestAutoScale(t *testing.T) {
	t.Parallel()
	start := time.Now()
	marks := t.TempDir()
	in := startUp(t, t.TempDir())

	const formula = "$TargetDedicatedNodes = min(4, max($PendingTasks.GetSample(1))); $NodeDeallocationOption = taskcompletion;"
	in.must(201, "POST", "/pools", map[string]any{"id": "auto", "vmSize": "standard_d2s_v3",
		"enableAutoScale": true, "autoScaleFormula": formula, "autoScaleEvaluationInterval": "PT1S"}, nil)
	pool := func() batch.Pool {
		var p batch.Pool
		in.must(200, "GET", "/pools/auto", nil, &p)
		return p
	}
	nodes := func() int {
		var l nodeList
		in.must(200, "GET", "/pools/auto/nodes", nil, &l)
		return len(l.Value)
	}
	// No work: the formula keeps the pool empty.
	require.Eventually(t, func() bool { return pool().AutoScaleRun != nil }, 10*time.Second, 100*time.Millisecond)
	p := pool()
	require.Nil(t, p.AutoScaleRun.Error)
	require.Equal(t, 0, batch.IntOr(p.TargetDedicatedNodes, 0))
	require.Zero(t, nodes())

	in.must(201, "POST", "/jobs", map[string]any{"id": "job", "poolInfo": map[string]any{"poolId": "auto"}}, nil)
	tasks := make([]map[string]any, 100)
	for i := range tasks {
		tasks[i] = map[string]any{"id": fmt.Sprintf("t-%03d", i),
			"commandLine": fmt.Sprintf("/bin/sh -c 'echo run >> %s/$AZ_BATCH_TASK_ID; sleep 0.2'", marks)}
	}
	var res struct{ Value []batch.TaskAddResult }
	in.must(200, "POST", "/jobs/job/addtaskcollection", map[string]any{"value": tasks}, &res)
	for _, r := range res.Value {
		require.Equal(t, "success", r.Status, "%+v", r)
	}

	// The pool grows.
	require.Eventually(t, func() bool { return batch.IntOr(pool().CurrentDedicatedNodes, 0) > 0 },
		10*time.Second, 100*time.Millisecond, "the pool never grew")

	// Every task succeeds, at its first try, and ran once.
	require.Eventually(t, func() bool { return in.counts("job").TaskCounts.Completed == 100 },
		30*time.Second, 100*time.Millisecond, "tasks did not all complete")
	require.Equal(t, batch.TaskCounts{Completed: 100, Succeeded: 100}, in.counts("job").TaskCounts)
	all := in.allTasks("job")
	require.Len(t, all, 100)
	for id, tk := range all {
		require.Equal(t, batch.TaskCompleted, tk.State, id)
		require.NotNil(t, tk.ExecutionInfo, id)
		require.Equal(t, batch.ResultSuccess, tk.ExecutionInfo.Result, id)
		require.Equal(t, 0, tk.ExecutionInfo.RetryCount, id)
		runs, err := os.ReadFile(filepath.Join(marks, id))
		require.NoError(t, err, id)
		require.Equal(t, "run\n", string(runs), "task %s ran more than once", id)
	}

	// The work is done: back to no nodes.
	require.Eventually(t, func() bool {
		p := pool()
		return batch.IntOr(p.TargetDedicatedNodes, -1) == 0 && batch.IntOr(p.CurrentDedicatedNodes, -1) == 0 && nodes() == 0
	}, 20*time.Second, 200*time.Millisecond, "the pool never shrank to 0")
	p = pool()
	require.Nil(t, p.AutoScaleRun.Error)
	require.Equal(t, batch.AllocSteady, p.AllocationState)
	require.Less(t, time.Since(start), 60*time.Second)
	in.stop()
}
