package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestPreemptLowPriorityNode: a low-priority node running a long task is
// preempted with `natch node preempt`: the node turns preempted (and counts
// so in the node counts), its worker process is killed, the scaler starts a
// replacement since the pool's low-priority target stays, and the task
// completes on the replacement with requeueCount 1 and retryCount 0.
func TestPreemptLowPriorityNode(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	marks := t.TempDir()
	in := startUp(t, dataDir)

	in.must(201, "POST", "/pools", map[string]any{"id": "spot", "vmSize": "standard_d2s_v3",
		"targetDedicatedNodes": 0, "targetLowPriorityNodes": 1}, nil)
	first := in.waitNodes("spot", 1, batch.NodeIdle)[0]
	require.False(t, first.IsDedicated)

	in.must(201, "POST", "/jobs", map[string]any{"id": "job", "poolInfo": map[string]any{"poolId": "spot"}}, nil)
	in.must(201, "POST", "/jobs/job/tasks", map[string]any{"id": "long",
		"commandLine": "/bin/sh -c 'echo $AZ_BATCH_NODE_ID >> " + marks + "/runs; sleep 3; echo done >> " + marks + "/runs'"}, nil)
	var task batch.Task
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/job/tasks/long", nil, &task)
		return task.State == batch.TaskRunning && task.NodeInfo != nil
	}, 30*time.Second, 50*time.Millisecond, "the task never ran")
	require.Equal(t, first.ID, task.NodeInfo.NodeID)

	// Unknown nodes are 404s; the CLI preempts the running node.
	in.must(404, "POST", "/pools/spot/nodes/nosuchnode/natch-preempt", nil, nil)
	cli := exec.Command(natchBin, "node", "preempt", "spot", first.ID,
		"--url", in.Conn.URL, "--account", in.Conn.Account, "--key", in.Conn.Key)
	out, err := cli.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "preempting node "+first.ID)

	var node batch.ComputeNode
	in.must(200, "GET", "/pools/spot/nodes/"+first.ID, nil, &node)
	require.Equal(t, batch.NodePreempted, node.State)
	var counts struct {
		Value []struct {
			PoolID      string         `json:"poolId"`
			LowPriority map[string]int `json:"lowPriority"`
		} `json:"value"`
	}
	in.must(200, "GET", "/nodecounts", nil, &counts)
	require.Len(t, counts.Value, 1)
	require.Equal(t, 1, counts.Value[0].LowPriority["preempted"])

	// The node's worker is killed; a replacement comes up.
	require.Eventually(t, func() bool { _, ok := workerPIDs(dataDir)[first.ID]; return !ok },
		10*time.Second, 50*time.Millisecond, "the preempted node's worker still runs")
	var replacement string
	require.Eventually(t, func() bool {
		var l nodeList
		in.must(200, "GET", "/pools/spot/nodes", nil, &l)
		for _, n := range l.Value {
			if n.ID != first.ID && (n.State == batch.NodeIdle || n.State == batch.NodeRunning) {
				replacement = n.ID
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "no replacement node")

	// The formula variables see the preempted node and the replacement's
	// metrics (measured by its worker, carried in its node record).
	require.Eventually(t, func() bool {
		var run batch.AutoScaleRun
		in.must(200, "POST", "/pools/spot/evaluateautoscale", map[string]any{"autoScaleFormula": "$TargetDedicatedNodes = 0; " +
			"pre = max($PreemptedNodeCount.GetSample(1)); n = max($SampleNodeCount.GetSample(1)); " +
			"mem = max($MemoryBytes.GetSample(1)) > 0; disk = max($DiskBytes.GetSample(1)) > 0;"}, &run)
		return run.Error == nil && strings.HasSuffix(run.Results, ";disk=1;mem=1;n=1;pre=1")
	}, 10*time.Second, 100*time.Millisecond, "node variables")

	// The task is requeued, not retried, and completes on the replacement.
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/job/tasks/long", nil, &task)
		return task.State == batch.TaskCompleted
	}, 40*time.Second, 100*time.Millisecond, "the task never completed")
	require.Equal(t, batch.ResultSuccess, task.ExecutionInfo.Result)
	require.Equal(t, 1, task.ExecutionInfo.RequeueCount)
	require.Equal(t, 0, task.ExecutionInfo.RetryCount)
	require.Equal(t, replacement, task.NodeInfo.NodeID)
	runs, err := os.ReadFile(filepath.Join(marks, "runs"))
	require.NoError(t, err)
	require.Equal(t, first.ID+"\n"+replacement+"\ndone\n", string(runs), "the preempted node's task was killed with it")

	// The target stays; the preempted node does not count.
	var p batch.Pool
	in.must(200, "GET", "/pools/spot", nil, &p)
	require.Equal(t, 1, batch.IntOr(p.TargetLowPriorityNodes, -1))
	require.Equal(t, 1, batch.IntOr(p.CurrentLowPriorityNodes, -1))
	in.must(200, "GET", "/pools/spot/nodes/"+first.ID, nil, &node)
	require.Equal(t, batch.NodePreempted, node.State)
	in.stop()
}
