package dispatcher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

func (b *testBundle) getPool(t *testing.T, id string) batch.Pool {
	t.Helper()
	code, body := b.do(t, "GET", "/pools/"+id, nil)
	require.Equal(t, 200, code, string(body))
	var p batch.Pool
	require.NoError(t, json.Unmarshal(body, &p))
	return p
}

func TestEnableAutoScaleBadFormula(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "standard_d2s_v3"})
	require.Equal(t, 201, code, string(body))

	code, body = b.do(t, "POST", "/pools/pool1/enableautoscale",
		map[string]any{"autoScaleFormula": "$TargetDedicatedNodes = 1;\n$TargetDedicatedNodes = min(3, ;"})
	require.Equal(t, 400, code, string(body))
	var e struct {
		Code   string `json:"code"`
		Values []struct{ Key, Value string }
	}
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	require.Equal(t, "AutoScalingFormulaSyntaxError", e.Code)
	vals := map[string]string{}
	for _, v := range e.Values {
		vals[v.Key] = v.Value
	}
	require.Equal(t, "2", vals["Line"], string(body))
	require.NotEmpty(t, vals["Column"], string(body))
	require.Contains(t, vals["Message"], "Line 2, Col ")

	code, body = b.do(t, "POST", "/pools/pool1/enableautoscale",
		map[string]any{"autoScaleFormula": "$TargetDedicatedNodes = 1;", "autoScaleEvaluationInterval": "PT0.5S"})
	require.Equal(t, 400, code, string(body))
	require.Contains(t, string(body), "autoScaleEvaluationInterval")

	// Adding an autoscale pool validates its formula the same way.
	code, body = b.do(t, "POST", "/pools", map[string]any{"id": "pool2", "vmSize": "standard_d2s_v3",
		"enableAutoScale": true, "autoScaleFormula": "$TargetDedicatedNodes = ;"})
	require.Equal(t, 400, code, string(body))
	require.Contains(t, string(body), `"code":"AutoScalingFormulaSyntaxError"`)
	require.False(t, b.getPool(t, "pool1").EnableAutoScale != nil && *b.getPool(t, "pool1").EnableAutoScale)
}

func TestEnableDisableAutoScale(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1})
	require.Equal(t, 201, code, string(body))
	before := b.getPool(t, "pool1")

	const f = "$TargetDedicatedNodes = 0;"
	code, body = b.do(t, "POST", "/pools/pool1/enableautoscale",
		map[string]any{"autoScaleFormula": f, "autoScaleEvaluationInterval": "PT1S"})
	require.Equal(t, 200, code, string(body))
	require.Empty(t, body)
	p := b.getPool(t, "pool1")
	require.True(t, *p.EnableAutoScale)
	require.Equal(t, f, p.AutoScaleFormula)
	require.Equal(t, time.Second, p.AutoScaleEvaluationInterval.Std())
	require.Equal(t, 1, *p.TargetDedicatedNodes, "targets kept")
	require.NotEqual(t, before.ETag, p.ETag)

	code, body = b.do(t, "POST", "/pools/pool1/resize", map[string]any{"targetDedicatedNodes": 2})
	require.Equal(t, 409, code)
	require.Contains(t, string(body), "PoolIsAutoScaleEnabled")

	code, body = b.do(t, "POST", "/pools/pool1/disableautoscale", nil)
	require.Equal(t, 200, code, string(body))
	require.Empty(t, body)
	p = b.getPool(t, "pool1")
	require.False(t, *p.EnableAutoScale)
	require.Empty(t, p.AutoScaleFormula)
	require.Equal(t, 1, *p.TargetDedicatedNodes, "targets kept")

	code, body = b.do(t, "POST", "/pools/pool1/resize", map[string]any{"targetDedicatedNodes": 2})
	require.Equal(t, 202, code, string(body))

	// An autoscale pool added with no interval gets Azure's default.
	code, body = b.do(t, "POST", "/pools", map[string]any{"id": "pool2", "vmSize": "standard_d2s_v3",
		"enableAutoScale": true, "autoScaleFormula": f})
	require.Equal(t, 201, code, string(body))
	require.Equal(t, 15*time.Minute, b.getPool(t, "pool2").AutoScaleEvaluationInterval.Std())
}

func TestEvaluateAutoScale(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "standard_d2s_v3",
		"enableAutoScale": true, "autoScaleFormula": "$TargetDedicatedNodes = 0;", "autoScaleEvaluationInterval": "PT1S"})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code, string(body))
	tasks := []map[string]any{}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		tasks = append(tasks, map[string]any{"id": id, "commandLine": "true"})
	}
	code, body = b.do(t, "POST", "/jobs/job1/addtaskcollection", map[string]any{"value": tasks})
	require.Equal(t, 200, code, string(body))
	before := b.getPool(t, "pool1")

	evaluate := func(f string) (batch.AutoScaleRun, string) {
		code, body := b.do(t, "POST", "/pools/pool1/evaluateautoscale", map[string]any{"autoScaleFormula": f})
		require.Equal(t, 200, code, string(body))
		var run batch.AutoScaleRun
		require.NoError(t, json.Unmarshal(body, &run))
		return run, string(body)
	}
	require.Eventually(t, func() bool {
		run, _ := evaluate("$TargetDedicatedNodes = min(3, $PendingTasks.GetSample(1));")
		return run.Results == "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
	}, 10*time.Second, 50*time.Millisecond)
	run, raw := evaluate("n = sum($ActiveTasks.GetSample(1)) + sum($RunningTasks.GetSample(1)); $TargetDedicatedNodes = n;")
	require.Nil(t, run.Error, raw)
	require.Equal(t, "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;n=5", run.Results)
	// The task and slot counts of the pool's jobs (eventually consistent).
	require.Eventually(t, func() bool {
		run, _ := evaluate("$TargetDedicatedNodes = 0; a = $ActiveTaskSlots.GetSample(1); p = $PendingTaskSlots.GetSample(1); " +
			"r = $RunningTaskSlots.GetSample(1); s = $SucceededTasks.GetSample(1); f = $FailedTasks.GetSample(1);")
		return run.Results == "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;a=[5];f=[0];p=[5];r=[0];s=[0]"
	}, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, raw, `"odata.metadata":`)
	require.Contains(t, raw, "AutoScaleRun")
	require.WithinDuration(t, time.Now(), run.Timestamp.Time, time.Minute)

	// An evaluation error answers 200 with the error in the run.
	run, raw = evaluate("$TargetDedicatedNodes = $PendingTasks.GetSample(5);")
	require.NotNil(t, run.Error, raw)
	require.Equal(t, "InsufficientSampleData", run.Error.Code, raw)
	require.NotEmpty(t, run.Error.Values)

	// A syntax error is a 400.
	code, body = b.do(t, "POST", "/pools/pool1/evaluateautoscale", map[string]any{"autoScaleFormula": "$TargetDedicatedNodes = ("})
	require.Equal(t, 400, code, string(body))
	require.Contains(t, string(body), "AutoScalingFormulaSyntaxError")

	// A dry run: nothing changed.
	after := b.getPool(t, "pool1")
	require.Equal(t, before.ETag, after.ETag)
	require.Nil(t, after.AutoScaleRun)
}

// TestEvaluateAutoScaleUsesHistory: with samples in the metrics stream (as
// the scaler leaves them), evaluateautoscale evaluates against them, not
// against one sample of now: GetSample(5) and a 5 s window see the five
// stored samples, and node metrics come from them too.
func TestEvaluateAutoScaleUsesHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "hist", "vmSize": "standard_d2s_v3",
		"enableAutoScale": true, "autoScaleFormula": "$TargetDedicatedNodes = 0;", "autoScaleEvaluationInterval": "PT1S"})
	require.Equal(t, 201, code, string(body))
	evaluate := func(f string) batch.AutoScaleRun {
		code, body := b.do(t, "POST", "/pools/hist/evaluateautoscale", map[string]any{"autoScaleFormula": f})
		require.Equal(t, 200, code, string(body))
		var run batch.AutoScaleRun
		require.NoError(t, json.Unmarshal(body, &run))
		return run
	}
	const f = "p = $PendingTasks.GetSample(5); w = avg($PendingTasks.GetSample(TimeInterval_Second * 5)); " +
		"c = $CPUPercent.GetSample(1); pre = max($PreemptedNodeCount.GetSample(5)); $TargetDedicatedNodes = w;"

	// No history: one live sample, too few for GetSample(5).
	run := evaluate(f)
	require.NotNil(t, run.Error)
	require.Equal(t, "InsufficientSampleData", run.Error.Code)

	// Five samples, 1 s apart, the newest half a second old.
	now := time.Now()
	for i, pending := range []float64{2, 4, 6, 8, 10} {
		s := protocol.PoolSample{At: now.Add(time.Duration(i-5)*time.Second + 500*time.Millisecond).UTC(),
			Pending: pending, Active: pending, CPUPercent: 10 * pending, PreemptedNodes: float64(i % 2)}
		raw, err := json.Marshal(s)
		require.NoError(t, err)
		_, err = b.js.Publish(t.Context(), topology.MetricsSubject(account, "hist"), raw)
		require.NoError(t, err)
	}
	run = evaluate(f)
	require.Nil(t, run.Error, "%+v", run.Error)
	require.Equal(t, "$TargetDedicatedNodes=6;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;c=[100];p=[2,4,6,8,10];pre=1;w=6",
		run.Results)
	require.Nil(t, b.getPool(t, "hist").AutoScaleRun, "a dry run")
}
