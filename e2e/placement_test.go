package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPlacement runs maxParallelTasks and job priority on real nodes: a
// job limited to one task at a time never overlaps two of them, and in a
// pool whose jobs differ in priority the higher-priority job's tasks start
// before the lower-priority tasks still waiting.
func TestPlacement(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir())
	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1, "taskSlotsPerNode": 2}, nil)
	in.waitNodes("p", 1, "idle")

	// maxParallelTasks 1 on a node with 2 slots: one at a time.
	in.must(201, "POST", "/jobs", map[string]any{"id": "serial", "poolInfo": map[string]any{"poolId": "p"}, "maxParallelTasks": 1}, nil)
	for i := range 3 {
		in.must(201, "POST", "/jobs/serial/tasks", map[string]any{"id": "s" + strconv.Itoa(i), "commandLine": "sleep 0.3"}, nil)
	}
	require.Eventually(t, func() bool { return in.counts("serial").TaskCounts.Completed == 3 }, 30*time.Second, 50*time.Millisecond)
	tasks := in.allTasks("serial")
	for a := range 3 {
		for b := a + 1; b < 3; b++ {
			x, y := tasks["s"+strconv.Itoa(a)].ExecutionInfo, tasks["s"+strconv.Itoa(b)].ExecutionInfo
			overlap := x.StartTime.Before(y.EndTime.Time) && y.StartTime.Before(x.EndTime.Time)
			require.False(t, overlap, "s%d and s%d ran at the same time", a, b)
		}
	}

	// Priority: 6 low tasks queued first, then 2 high ones.
	in.must(201, "POST", "/jobs", map[string]any{"id": "low", "poolInfo": map[string]any{"poolId": "p"}, "priority": 0}, nil)
	in.must(201, "POST", "/jobs", map[string]any{"id": "high", "poolInfo": map[string]any{"poolId": "p"}, "priority": 10}, nil)
	// One collection each, back to back: no task ends in between (they
	// take a second), so only the pool's room of low tasks can go first.
	collection := func(prefix string, n int) map[string]any {
		var ts []map[string]any
		for i := range n {
			ts = append(ts, map[string]any{"id": prefix + strconv.Itoa(i), "commandLine": "sleep 1"})
		}
		return map[string]any{"value": ts}
	}
	in.must(200, "POST", "/jobs/low/addtaskcollection", collection("l", 6), nil)
	in.must(200, "POST", "/jobs/high/addtaskcollection", collection("h", 2), nil)
	require.Eventually(t, func() bool {
		return in.counts("low").TaskCounts.Completed == 6 && in.counts("high").TaskCounts.Completed == 2
	}, 60*time.Second, 100*time.Millisecond)
	low, high := in.allTasks("low"), in.allTasks("high")
	lastHigh := high["h0"].ExecutionInfo.StartTime.Time
	if s := high["h1"].ExecutionInfo.StartTime.Time; s.After(lastHigh) {
		lastHigh = s
	}
	later := 0
	for _, tk := range low {
		if tk.ExecutionInfo.StartTime.After(lastHigh) {
			later++
		}
	}
	// At most the pool's room (2 slots + 1 queued) of low tasks went before;
	// the rest waited for the high job.
	require.GreaterOrEqual(t, later, 3, "high-priority tasks started before most of the waiting low ones")
}
