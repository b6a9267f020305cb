package scaler_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// TestScalerSamplesTaskCountsAndSlots checks $SucceededTasks, $FailedTasks
// and the slot variables: the counts the dispatcher keeps per job (counts
// bucket) summed over the pool's jobs (jobs bucket), following a job that
// is deleted and a job of another pool.
func TestScalerSamplesTaskCountsAndSlots(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	ctx := t.Context()
	jobs, err := b.js.KeyValue(ctx, topology.JobsBucket)
	require.NoError(t, err)
	counts, err := b.js.KeyValue(ctx, topology.CountsBucket)
	require.NoError(t, err)
	put := func(kvName string, key string, v any) {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		kv := jobs
		if kvName == "counts" {
			kv = counts
		}
		_, err = kv.Put(ctx, key, raw)
		require.NoError(t, err)
	}
	job := func(id, pool string) state.JobRecord {
		return state.JobRecord{Job: batch.Job{ID: id}, PoolKey: pool}
	}
	put("jobs", topology.JobKey(account, "j1"), job("j1", "slots"))
	put("jobs", topology.JobKey(account, "j2"), job("J2", "slots"))
	put("jobs", topology.JobKey(account, "other"), job("other", "elsewhere"))
	put("counts", topology.JobKey(account, "j1"), state.Counts{
		Tasks: batch.TaskCounts{Active: 2, Running: 1, Completed: 5, Succeeded: 4, Failed: 1},
		Slots: batch.TaskCounts{Active: 6, Running: 2, Completed: 9, Succeeded: 8, Failed: 1}, Total: 8})
	put("counts", topology.JobKey(account, "j2"), state.Counts{
		Tasks: batch.TaskCounts{Active: 1, Completed: 3, Succeeded: 1, Failed: 2},
		Slots: batch.TaskCounts{Active: 4, Completed: 3, Succeeded: 1, Failed: 2}, Total: 4})
	put("counts", topology.JobKey(account, "other"), state.Counts{
		Tasks: batch.TaskCounts{Active: 100, Succeeded: 100}, Slots: batch.TaskCounts{Active: 100, Succeeded: 100}, Total: 200})

	const f = "$TargetDedicatedNodes = 0; s = $SucceededTasks.GetSample(1); f = $FailedTasks.GetSample(1); " +
		"a = $ActiveTaskSlots.GetSample(1); r = $RunningTaskSlots.GetSample(1); p = $PendingTaskSlots.GetSample(1);"
	b.addPool(t, "slots", 0, 0)
	b.changePool(t, "slots", func(p *batch.Pool) {
		p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = batch.Bool(true), f, batch.D(time.Second)
	})
	b.run(t, testConfig(t, b.prov))
	const want = "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;a=[10];f=[3];p=[12];r=[2];s=[5]"
	require.Eventually(t, func() bool {
		run := b.pool(t, "slots").AutoScaleRun
		return run != nil && run.Results == want
	}, wait, poll)

	// j2 is deleted (record and counts): only j1 is left.
	require.NoError(t, jobs.Delete(ctx, topology.JobKey(account, "j2")))
	require.NoError(t, counts.Delete(ctx, topology.JobKey(account, "j2")))
	const after = "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;a=[6];f=[1];p=[8];r=[2];s=[4]"
	require.Eventually(t, func() bool { return b.pool(t, "slots").AutoScaleRun.Results == after }, wait, poll)
}
