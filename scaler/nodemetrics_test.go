package scaler_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// TestScalerNodeMetrics: two nodes report CPU 20 % and 60 %, 1 GB and
// 3 GB of memory, and disk reads at 1000 bytes a second each. The pool's
// samples say $CPUPercent 40 (the mean), $MemoryBytes 2048 (MB, the mean),
// $DiskReadBytes 2000 (bytes per 1 s sample, summed over the nodes) and
// $SampleNodeCount 2, in memory (the formula's results) and in the
// metrics stream.
func TestScalerNodeMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	t0 := time.Now()
	var mu sync.Mutex
	cpu := map[string]float64{}
	b.prov.metrics = func(id string, at time.Time) *protocol.NodeMetrics {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := cpu[id]; !ok {
			cpu[id] = 20 + 40*float64(len(cpu)) // the first node 20 %, the second 60 %
		}
		return &protocol.NodeMetrics{At: at, CPUPercent: cpu[id], MemoryBytes: uint64(cpu[id]/20) << 30,
			DiskReadBytes: uint64(at.Sub(t0).Seconds() * 1000)}
	}
	b.addPool(t, "cpu", 2, 0)
	const f = "cpu = $CPUPercent.GetSample(1); mem = $MemoryBytes.GetSample(1); n = $SampleNodeCount.GetSample(1); " +
		"usable = $UsableNodeCount.GetSample(1); $TargetDedicatedNodes = 2;"
	b.changePool(t, "cpu", func(p *batch.Pool) {
		p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = batch.Bool(true), f, batch.D(time.Second)
	})
	b.run(t, testConfig(t, b.prov))

	require.Eventually(t, func() bool {
		p := b.pool(t, "cpu")
		return p.AutoScaleRun != nil && p.AutoScaleRun.Error == nil && p.AutoScaleRun.Results ==
			"$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;cpu=[40];mem=[2048];n=[2];usable=[2]"
	}, wait, poll, "results: %+v", b.pool(t, "cpu").AutoScaleRun)

	// The stream has them too (the rates from each node's second sample on).
	var last protocol.PoolSample
	require.Eventually(t, func() bool {
		samples, err := scaler.ReadSamples(t.Context(), b.js, account, "cpu", time.Now().Add(-time.Minute), time.Now())
		require.NoError(t, err)
		if len(samples) == 0 {
			return false
		}
		last = samples[len(samples)-1]
		return last.DiskReadBytes > 0
	}, wait, poll)
	require.Equal(t, 40.0, last.CPUPercent, "%+v", last)
	require.Equal(t, 2048.0, last.MemoryMB)
	require.Equal(t, 2.0, last.SampleNodes)
	require.Equal(t, 2.0, last.UsableNodes)
	require.Equal(t, 2.0, last.WallClockSeconds)
	require.InDelta(t, 2000, last.DiskReadBytes, 50, fmt.Sprintf("%+v", last))
	require.Zero(t, last.PreemptedNodes)
}
