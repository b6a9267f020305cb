package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestMultiInstanceTasks runs an MPI-style task on a pool of three nodes
// with inter-node communication: the primary sees all three hosts, the
// subtasks complete on the other nodes; a task that needs more nodes than
// the pool has does not hold the nodes and says why it waits.
func TestMultiInstanceTasks(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir(), "--rendezvous-timeout", "2s")
	out := t.TempDir()
	in.must(201, "POST", "/pools", map[string]any{"id": "mpi", "vmSize": "standard_d2s_v3",
		"targetDedicatedNodes": 3, "enableInterNodeCommunication": true}, nil)
	in.must(201, "POST", "/pools", map[string]any{"id": "plain", "vmSize": "standard_d2s_v3"}, nil)
	in.must(201, "POST", "/jobs", map[string]any{"id": "mj", "poolInfo": map[string]any{"poolId": "mpi"}}, nil)
	in.must(201, "POST", "/jobs", map[string]any{"id": "pj", "poolInfo": map[string]any{"poolId": "plain"}}, nil)

	// A pool without inter-node communication cannot run one.
	mi := func(id string, n int, cmd string) map[string]any {
		return map[string]any{"id": id, "commandLine": cmd, "multiInstanceSettings": map[string]any{
			"numberOfInstances": n, "coordinationCommandLine": `/bin/sh -c 'echo coordinated'`}}
	}
	code, raw := in.call("POST", "/jobs/pj/tasks", mi("t", 2, "true"), nil)
	require.Equal(t, 400, code)
	require.Contains(t, string(raw), `"InvalidPropertyValue"`)
	require.Contains(t, string(raw), `"multiInstanceSettings"`)
	code, raw = in.call("POST", "/jobs/mj/tasks", map[string]any{"id": "t", "commandLine": "true",
		"multiInstanceSettings": map[string]any{"numberOfInstances": 2}}, nil)
	require.Equal(t, 400, code)
	require.Contains(t, string(raw), "multiInstanceSettings.coordinationCommandLine")

	nodes := in.waitNodes("mpi", 3, batch.NodeIdle)
	require.Len(t, nodes, 3)
	hosts := filepath.Join(out, "hosts")
	in.must(201, "POST", "/jobs/mj/tasks", mi("mpi", 3, `/bin/sh -c 'echo "$AZ_BATCH_HOST_LIST" > `+hosts+`'`), nil)
	var task batch.Task
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/mj/tasks/mpi", nil, &task)
		return task.State == batch.TaskCompleted
	}, 60*time.Second, 100*time.Millisecond)
	require.Equal(t, batch.ResultSuccess, task.ExecutionInfo.Result, "%+v", task.ExecutionInfo)
	require.Equal(t, 3, *task.MultiInstanceSettings.NumberOfInstances)
	b, err := os.ReadFile(hosts)
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(string(b)), ","), 3, string(b))

	var subs struct {
		Value []batch.SubtaskInformation `json:"value"`
	}
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/mj/tasks/mpi/subtasksinfo", nil, &subs)
		if len(subs.Value) != 2 {
			return false
		}
		for _, s := range subs.Value {
			if s.State != batch.SubtaskCompleted {
				return false
			}
		}
		return true
	}, 10*time.Second, 100*time.Millisecond, "%+v", subs)
	seen := map[string]bool{task.NodeInfo.NodeID: true}
	for i, s := range subs.Value {
		require.Equal(t, i+1, s.ID)
		require.Equal(t, batch.ResultSuccess, s.Result)
		require.NotNil(t, s.ExitCode)
		require.Equal(t, 0, *s.ExitCode)
		require.NotNil(t, s.NodeInfo)
		seen[s.NodeInfo.NodeID] = true
	}
	require.Len(t, seen, 3, "the primary and the subtasks ran on three different nodes")

	// Four instances on three nodes: the task waits, says why, and does not
	// hold the nodes.
	in.must(201, "POST", "/jobs/mj/tasks", mi("big", 4, "true"), nil)
	var big batch.Task
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/mj/tasks/big", nil, &big)
		return big.WaitReason != nil && big.WaitReason.Code == "WaitingForMultiInstanceNodes"
	}, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, big.WaitReason.Message, "needs 4 nodes")
	for i := range 3 {
		id := "after-" + string(rune('0'+i))
		in.must(201, "POST", "/jobs/mj/tasks", map[string]any{"id": id, "commandLine": "/bin/sh -c 'sleep 0.2'"}, nil)
	}
	require.Eventually(t, func() bool {
		all := in.allTasks("mj")
		for i := range 3 {
			if all["after-"+string(rune('0'+i))].State != batch.TaskCompleted {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "other tasks run while the big one waits")
	in.must(200, "GET", "/jobs/mj/tasks/big", nil, &big)
	require.Equal(t, batch.TaskActive, big.State)

	// Terminating it ends its rendezvous; the nodes stay usable.
	in.must(204, "POST", "/jobs/mj/tasks/big/terminate", nil, nil)
	in.must(200, "GET", "/jobs/mj/tasks/big", nil, &big)
	require.Equal(t, batch.TaskCompleted, big.State)
	in.must(201, "POST", "/jobs/mj/tasks", map[string]any{"id": "last", "commandLine": "true"}, nil)
	require.Eventually(t, func() bool {
		var tk batch.Task
		in.must(200, "GET", "/jobs/mj/tasks/last", nil, &tk)
		return tk.State == batch.TaskCompleted
	}, 30*time.Second, 100*time.Millisecond)
}
