package scaler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// TestSampleNodes folds node records into a pool sample: levels averaged
// over the fresh nodes, counters turned into per-node rates and summed per
// sample period, node counts by state.
func TestSampleNodes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := func(state string, m *protocol.NodeMetrics) nodeEntry {
		return nodeEntry{rec: protocol.NodeRecord{ComputeNode: batch.ComputeNode{State: state}, Metrics: m}}
	}
	metrics := func(at time.Time, cpu float64, read, out uint64) *protocol.NodeMetrics {
		return &protocol.NodeMetrics{At: at, CPUPercent: cpu, MemoryBytes: 1 << 30, DiskBytes: 10 << 30,
			DiskReadBytes: read, NetworkOutBytes: out}
	}
	rates := map[string]*nodeRates{}
	nodes := map[string]nodeEntry{
		"a": rec(batch.NodeIdle, metrics(t0, 10, 1000, 0)),
		"b": rec(batch.NodeRunning, metrics(t0, 50, 0, 500)),
		"c": rec(batch.NodeRunning, metrics(t0.Add(-time.Minute), 90, 0, 0)), // stale: not sampled
		"d": rec(batch.NodePreempted, nil),
		"e": rec(batch.NodeOffline, metrics(t0, 99, 0, 0)),
	}
	var s protocol.PoolSample
	sampleNodes(&s, nodes, rates, t0, time.Second, 10*time.Second)
	require.Equal(t, protocol.PoolSample{CPUPercent: 30, MemoryMB: 1024, DiskGB: 10, SampleNodes: 2, WallClockSeconds: 2,
		UsableNodes: 3, PreemptedNodes: 1}, s, "no rates before a node's second sample")
	require.NotContains(t, rates, "e", "offline nodes keep no rates")

	// Two seconds on: a read 4000 bytes, b sent 1000: per 1 s sample,
	// 2000 and 500.
	t1 := t0.Add(2 * time.Second)
	nodes["a"] = rec(batch.NodeIdle, metrics(t1, 30, 5000, 0))
	nodes["b"] = rec(batch.NodeRunning, metrics(t1, 70, 0, 1500))
	delete(nodes, "c")
	s = protocol.PoolSample{}
	sampleNodes(&s, nodes, rates, t1, time.Second, 10*time.Second)
	require.Equal(t, 50.0, s.CPUPercent)
	require.Equal(t, 2000.0, s.DiskReadBytes)
	require.Equal(t, 500.0, s.NetworkOutBytes)
	require.NotContains(t, rates, "c", "gone nodes keep no rates")

	// A counter that went backwards (a reboot) rates 0.
	t2 := t1.Add(time.Second)
	nodes["a"] = rec(batch.NodeIdle, metrics(t2, 30, 10, 0))
	s = protocol.PoolSample{}
	sampleNodes(&s, nodes, rates, t2, time.Second, 10*time.Second)
	require.Zero(t, s.DiskReadBytes)
}
