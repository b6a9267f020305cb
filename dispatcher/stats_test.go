package dispatcher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

func TestExpandStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "standard_d4s_v3"})
	require.Equal(t, 201, code, string(body))
	w := newFakeWorker(t, b, "pool1")
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code)
	b.addTask(t, "job1", map[string]any{"id": "ok", "commandLine": "true"})
	b.addTask(t, "job1", map[string]any{"id": "bad", "commandLine": "false"})
	for _, m := range w.next(2, 5*time.Second) {
		w.report(m, exit(map[string]int{"ok": 0, "bad": 3}[taskOf(t, m).Task.ID]))
	}
	b.waitTaskState(t, "job1", "ok", "completed")
	b.waitTaskState(t, "job1", "bad", "completed")
	ok := b.task(t, "job1", "ok")
	require.NotNil(t, ok.Stats, "a completed task carries its stats")
	require.GreaterOrEqual(t, ok.Stats.WallClockTime.Std(), time.Duration(0))

	var job batch.Job
	require.Eventually(t, func() bool {
		code, body := b.do(t, "GET", "/jobs/job1?$expand=stats", nil)
		require.Equal(t, 200, code, string(body))
		require.NoError(t, json.Unmarshal(body, &job))
		return job.Stats != nil && job.Stats.NumSucceededTasks == 1 && job.Stats.NumFailedTasks == 1
	}, 5*time.Second, 50*time.Millisecond)
	require.Contains(t, job.Stats.URL, "/jobs/job1/stats")
	_, body = b.do(t, "GET", "/jobs/job1", nil)
	require.NotContains(t, string(body), `"stats"`, "stats only when expanded")

	var list struct{ Value []batch.Job }
	_, body = b.do(t, "GET", "/jobs?$expand=stats", nil)
	require.NoError(t, json.Unmarshal(body, &list))
	require.NotNil(t, list.Value[0].Stats)

	var pool batch.Pool
	_, body = b.do(t, "GET", "/pools/pool1?$expand=STATS", nil)
	require.NoError(t, json.Unmarshal(body, &pool))
	require.NotNil(t, pool.Stats)
	require.NotNil(t, pool.Stats.UsageStats)

	code, body = b.do(t, "GET", "/jobs/job1?$expand=tasks", nil)
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "InvalidQueryParameterValue")
}
