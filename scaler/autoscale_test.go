package scaler_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

func TestScalerAutoScale(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.addPool(t, "auto", 0, 0)
	// GetSample returns a doubleVec, which does not compare with a double:
	// the evaluation fails, autoScaleRun says so and no target changes.
	const bad = "$TargetDedicatedNodes = $PendingTasks.GetSample(1) > 0 ? 2 : 0;"
	b.changePool(t, "auto", func(p *batch.Pool) {
		p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = batch.Bool(true), bad, batch.D(time.Second)
		p.TargetDedicatedNodes, p.TargetLowPriorityNodes, p.AllocationState = nil, nil, batch.AllocSteady
	})
	b.run(t, testConfig(t, b.prov))
	require.Eventually(t, func() bool { return b.pool(t, "auto").AutoScaleRun != nil }, wait, poll)
	p := b.pool(t, "auto")
	require.NotNil(t, p.AutoScaleRun.Error)
	require.Equal(t, "AutoScalingFormulaEvaluationError", p.AutoScaleRun.Error.Code)
	require.Contains(t, p.AutoScaleRun.Error.Values[0].Value, "max($PendingTasks.GetSample(1))", "the error says how to fix it")
	require.Nil(t, p.TargetDedicatedNodes)

	const f = "$TargetDedicatedNodes = max($PendingTasks.GetSample(1)) > 0 ? 2 : 0;"
	b.changePool(t, "auto", func(p *batch.Pool) { p.AutoScaleFormula = f })

	// No tasks: the first evaluation leaves the pool at 0 and says so.
	require.Eventually(t, func() bool {
		p := b.pool(t, "auto")
		return p.AutoScaleRun != nil && p.TargetDedicatedNodes != nil
	}, wait, poll)
	p = b.pool(t, "auto")
	require.Nil(t, p.AutoScaleRun.Error)
	require.Equal(t, "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue", p.AutoScaleRun.Results)
	require.Equal(t, 0, *p.TargetDedicatedNodes)
	first := p.AutoScaleRun.Timestamp

	// Tasks queued: 2 nodes.
	ctx := t.Context()
	for _, id := range []string{"t1", "t2", "t3"} {
		_, err := b.js.Publish(ctx, topology.TaskSubject(account, "auto", "job1", id), []byte(`{}`))
		require.NoError(t, err)
	}
	require.Eventually(t, b.steadyAt(t, "auto", 2, 0), wait, poll)
	p = b.pool(t, "auto")
	require.Equal(t, 2, *p.TargetDedicatedNodes)
	require.Equal(t, "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue", p.AutoScaleRun.Results)
	require.True(t, p.AutoScaleRun.Timestamp.After(first.Time))
	require.True(t, *p.EnableAutoScale, "the scaler writes only its own fields")
	require.Equal(t, f, p.AutoScaleFormula)

	// The tasks are done: back to 0.
	cons, err := b.js.Consumer(ctx, topology.TasksStream, topology.PoolConsumer(account, "auto"))
	require.NoError(t, err)
	msgs, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	n := 0
	for m := range msgs.Messages() {
		require.NoError(t, m.Ack())
		n++
	}
	require.Equal(t, 3, n)
	require.Eventually(t, b.steadyAt(t, "auto", 0, 0), wait, poll)
	p = b.pool(t, "auto")
	require.Equal(t, 0, *p.TargetDedicatedNodes)
	require.Nil(t, p.AutoScaleRun.Error)
	require.Equal(t, "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue", p.AutoScaleRun.Results)
}

// TestScalerAutoScaleHistorySurvivesRestart stops a scaler after it has
// sampled a pool for a few seconds and starts another: its first
// evaluation already sees the samples the first one took.
func TestScalerAutoScaleHistorySurvivesRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.addPool(t, "hist", 0, 0)
	b.changePool(t, "hist", func(p *batch.Pool) {
		p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = batch.Bool(true), "$TargetDedicatedNodes = 0;", batch.D(time.Second)
		p.TargetDedicatedNodes, p.TargetLowPriorityNodes, p.AllocationState = nil, nil, batch.AllocSteady
	})
	cfg := testConfig(t, b.prov)
	cfg.Holder = "scaler-restarted" // the second scaler takes the lease back at once
	stop := b.run(t, cfg)

	ctx := t.Context()
	stream, err := b.js.Stream(ctx, topology.MetricsStream)
	require.NoError(t, err)
	subject := topology.MetricsSubject(account, "hist")
	stored := func() uint64 {
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
		require.NoError(t, err)
		return info.State.Subjects[subject]
	}
	require.Eventually(t, func() bool { return stored() >= 4 }, wait, poll)
	stop()

	// GetSample(4) needs 4 samples: a scaler without history would fail
	// its first evaluation (it has taken one sample by then).
	const f = "n = $PendingTasks.GetSample(4); $TargetDedicatedNodes = 0;"
	b.changePool(t, "hist", func(p *batch.Pool) { p.AutoScaleFormula, p.AutoScaleRun = f, nil })
	b.run(t, cfg)
	require.Eventually(t, func() bool { return b.pool(t, "hist").AutoScaleRun != nil }, wait, poll)
	run := b.pool(t, "hist").AutoScaleRun
	require.Nil(t, run.Error, "first evaluation after the restart: %+v", run.Error)
	require.Contains(t, run.Results, "n=[0,0,0,0]")
}
