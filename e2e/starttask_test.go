package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestStartTaskAndJobPrepRelease: a pool of two nodes whose start task
// writes a file into AZ_BATCH_NODE_SHARED_DIR that the tasks read; a job
// with preparation and release tasks: the preparation task runs once per
// node before that node's tasks, the release task on both nodes when the
// job is terminated, and listPreparationAndReleaseTaskStatus shows both.
func TestStartTaskAndJobPrepRelease(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir())
	out := t.TempDir()
	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2,
		"taskSlotsPerNode": 2,
		"startTask": map[string]any{"commandLine": `/bin/sh -c 'echo "$WORD" > "$AZ_BATCH_NODE_SHARED_DIR/started"'`,
			"environmentSettings": []any{map[string]string{"name": "WORD", "value": "setup-done"}},
			"maxTaskRetryCount":   1, "waitForSuccess": true}}, nil)
	nodes := in.waitNodes("p", 2, batch.NodeIdle)
	for _, n := range nodes {
		var got batch.ComputeNode
		in.must(200, "GET", "/pools/p/nodes/"+n.ID, nil, &got)
		require.NotNil(t, got.StartTaskInfo, n.ID)
		require.Equal(t, "completed", got.StartTaskInfo.State)
		require.Equal(t, "success", got.StartTaskInfo.Result)
		require.Equal(t, 0, *got.StartTaskInfo.ExitCode)
		require.NotNil(t, got.StartTask)
	}

	in.must(201, "POST", "/jobs", map[string]any{"id": "j", "poolInfo": map[string]any{"poolId": "p"},
		"jobPreparationTask": map[string]any{
			"commandLine": fmt.Sprintf(`/bin/sh -c 'echo prep >> %s/prep-$AZ_BATCH_NODE_ID; date +%%s%%N > prepared'`, out)},
		"jobReleaseTask": map[string]any{
			"commandLine": fmt.Sprintf(`/bin/sh -c 'echo release >> %s/release-$AZ_BATCH_NODE_ID'`, out)}}, nil)
	var tasks []map[string]any
	for i := range 12 {
		tasks = append(tasks, map[string]any{"id": fmt.Sprintf("t%d", i),
			"commandLine": fmt.Sprintf(`/bin/sh -c 'test "$(cat "$AZ_BATCH_NODE_SHARED_DIR/started")" = setup-done && `+
				`test -f "$AZ_BATCH_JOB_PREP_WORKING_DIR/prepared" && echo $AZ_BATCH_NODE_ID >> %s/ran && sleep 0.4'`, out)})
	}
	in.must(200, "POST", "/jobs/j/addtaskcollection", map[string]any{"value": tasks}, nil)
	require.Eventually(t, func() bool { return in.counts("j").TaskCounts.Completed == 12 }, 2*time.Minute, 100*time.Millisecond)
	require.Equal(t, 12, in.counts("j").TaskCounts.Succeeded, "every task read the start task's file and saw the preparation")

	ran, err := os.ReadFile(filepath.Join(out, "ran"))
	require.NoError(t, err)
	used := map[string]bool{}
	for _, id := range strings.Fields(string(ran)) {
		used[id] = true
	}
	for id := range used {
		require.Equal(t, "prep\n", readOut(t, out, "prep-"+id), "one preparation run on node %s", id)
	}
	require.Len(t, used, 2, "both nodes ran tasks")

	var list struct {
		Value []batch.JobPreparationAndReleaseTaskExecutionInformation `json:"value"`
	}
	in.must(200, "GET", "/jobs/j/jobpreparationandreleasetaskstatus", nil, &list)
	require.Len(t, list.Value, 2)
	for _, e := range list.Value {
		require.True(t, used[e.NodeID], e.NodeID)
		require.Equal(t, "p", e.PoolID)
		require.Equal(t, "completed", e.JobPreparationTaskExecutionInfo.State)
		require.Equal(t, "success", e.JobPreparationTaskExecutionInfo.Result)
		require.Nil(t, e.JobReleaseTaskExecutionInfo)
	}

	in.must(202, "POST", "/jobs/j/terminate", nil, nil)
	require.Eventually(t, func() bool {
		var j batch.Job
		in.must(200, "GET", "/jobs/j", nil, &j)
		return j.State == "completed"
	}, time.Minute, 100*time.Millisecond)
	for id := range used {
		require.Equal(t, "release\n", readOut(t, out, "release-"+id), "release ran on node %s before the job completed", id)
	}
	in.must(200, "GET", "/jobs/j/jobpreparationandreleasetaskstatus", nil, &list)
	require.Len(t, list.Value, 2)
	for _, e := range list.Value {
		require.NotNil(t, e.JobReleaseTaskExecutionInfo, e.NodeID)
		require.Equal(t, "completed", e.JobReleaseTaskExecutionInfo.State)
		require.Equal(t, "success", e.JobReleaseTaskExecutionInfo.Result)
	}
}

// TestStartTaskFailedNodesTakeNoTasks: a failing start task leaves the
// nodes starttaskfailed; the job's task stays active with NoNodes.
func TestStartTaskFailedNodesTakeNoTasks(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir())
	in.must(201, "POST", "/pools", map[string]any{"id": "bad", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2,
		"startTask": map[string]any{"commandLine": "/bin/sh -c 'exit 2'", "maxTaskRetryCount": 1}}, nil)
	nodes := in.waitNodes("bad", 2, batch.NodeStartTaskFailed)
	require.Equal(t, 1, nodes[0].StartTaskInfo.RetryCount)
	require.Equal(t, 2, *nodes[0].StartTaskInfo.ExitCode)
	require.Equal(t, "failure", nodes[0].StartTaskInfo.Result)

	var counts struct {
		Value []struct {
			PoolID    string         `json:"poolId"`
			Dedicated map[string]int `json:"dedicated"`
		} `json:"value"`
	}
	in.must(200, "GET", "/nodecounts", nil, &counts)
	require.Len(t, counts.Value, 1)
	require.Equal(t, 2, counts.Value[0].Dedicated["startTaskFailed"])

	in.must(201, "POST", "/jobs", map[string]any{"id": "j", "poolInfo": map[string]any{"poolId": "bad"}}, nil)
	in.must(201, "POST", "/jobs/j/tasks", map[string]any{"id": "t", "commandLine": "true"}, nil)
	var task batch.Task
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for range 10 { // two seconds: the task stays active
		<-tick.C
		in.must(200, "GET", "/jobs/j/tasks/t", nil, &task)
		require.Equal(t, batch.TaskActive, task.State)
	}
	require.NotNil(t, task.WaitReason)
	require.Equal(t, "NoNodes", task.WaitReason.Code)
}

func readOut(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(b)
}
