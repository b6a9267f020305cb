// Package e2e drives the natch binary end to end: `natch up` in a temp dir,
// real worker processes, the REST API with SharedKey signing.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

type taskList struct {
	Value    []batch.Task `json:"value"`
	NextLink string       `json:"odata.nextLink"`
}

type nodeList struct {
	Value []batch.ComputeNode `json:"value"`
}

// allTasks lists a job's tasks, following nextLink.
func (in *instance) allTasks(job string) map[string]batch.Task {
	out := map[string]batch.Task{}
	path := "/jobs/" + job + "/tasks"
	for {
		var l taskList
		in.must(200, "GET", path, nil, &l)
		for _, t := range l.Value {
			out[t.ID] = t
		}
		if l.NextLink == "" {
			return out
		}
		path = strings.TrimPrefix(l.NextLink, in.Conn.URL)
		path = strings.Replace(path, "api-version=2022-10-01.16.0&", "", 1)
		path = strings.Replace(path, "&api-version=2022-10-01.16.0", "", 1)
	}
}

func (in *instance) counts(job string) batch.TaskCountsResult {
	var c batch.TaskCountsResult
	in.must(200, "GET", "/jobs/"+job+"/taskcounts", nil, &c)
	return c
}

func (in *instance) waitNodes(pool string, n int, states ...string) []batch.ComputeNode {
	in.t.Helper()
	var nodes []batch.ComputeNode
	require.Eventually(in.t, func() bool {
		var l nodeList
		in.must(200, "GET", "/pools/"+pool+"/nodes", nil, &l)
		nodes = nodes[:0]
		for _, nd := range l.Value {
			for _, s := range states {
				if nd.State == s {
					nodes = append(nodes, nd)
				}
			}
		}
		return len(nodes) == n
	}, 60*time.Second, 100*time.Millisecond, "pool %s never had %d nodes in %v", pool, n, states)
	return nodes
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	marks := t.TempDir()
	in := startUp(t, dataDir)

	// Bad input changes nothing and gets Azure's errors.
	_, raw := in.call("POST", "/pools", map[string]any{"id": "bad id", "vmSize": "x"}, nil)
	require.Contains(t, string(raw), `"code":"InvalidPropertyValue"`)
	code, raw := in.call("POST", "/pools", []byte(`{"id":"p","vmSize":5}`), nil)
	require.Equal(t, 400, code)
	require.Contains(t, string(raw), `"InvalidRequestBody"`)
	require.Contains(t, string(raw), `vmSize`)
	code, raw = in.call("POST", "/jobs", map[string]any{"id": "j", "poolInfo": map[string]any{"poolId": "nope"}}, nil)
	require.Equal(t, 404, code)
	require.Contains(t, string(raw), "PoolNotFound")
	code, raw = in.call("POST", "/jobs/nope/tasks", map[string]any{"id": "t", "commandLine": "true"}, nil)
	require.Equal(t, 404, code)
	require.Contains(t, string(raw), "JobNotFound")

	in.must(201, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "standard_d2s_v3",
		"targetDedicatedNodes": 2, "taskSlotsPerNode": 2}, nil)
	code, raw = in.call("POST", "/pools", map[string]any{"id": "POOL1", "vmSize": "x"}, nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(raw), "PoolExists")
	in.waitNodes("pool1", 2, batch.NodeIdle)
	in.must(201, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}}, nil)

	// 200 tasks: plain ones, failing ones with retries, flaky ones that
	// succeed on a retry, and one killed by maxWallClockTime.
	var tasks []map[string]any
	for i := range 180 {
		tasks = append(tasks, map[string]any{"id": fmt.Sprintf("ok-%03d", i),
			"commandLine":         "/bin/sh -c 'echo hello from $AZ_BATCH_TASK_ID; echo $GREETING'",
			"environmentSettings": []map[string]string{{"name": "GREETING", "value": "hi there"}}})
	}
	for i := range 10 {
		tasks = append(tasks, map[string]any{"id": fmt.Sprintf("fail-%d", i), "commandLine": "/bin/sh -c 'exit 7'",
			"constraints": map[string]any{"maxTaskRetryCount": 2}})
	}
	for i := range 9 {
		mark := filepath.Join(marks, fmt.Sprintf("flaky-%d", i))
		tasks = append(tasks, map[string]any{"id": fmt.Sprintf("flaky-%d", i),
			"commandLine": fmt.Sprintf("/bin/sh -c 'test -f %s && exit 0; touch %s; exit 3'", mark, mark),
			"constraints": map[string]any{"maxTaskRetryCount": -1}})
	}
	tasks = append(tasks, map[string]any{"id": "slow", "commandLine": "/bin/sh -c 'sleep 60 & sleep 60'",
		"constraints": map[string]any{"maxWallClockTime": "PT1S"}})
	require.Len(t, tasks, 200)
	code, raw = in.call("POST", "/jobs/job1/addtaskcollection", map[string]any{"value": append(tasks[:100:100], tasks[0])}, nil)
	require.Equal(t, 413, code, "more than 100 tasks")
	require.Contains(t, string(raw), "RequestBodyTooLarge")
	for _, chunk := range [][]map[string]any{tasks[:100], tasks[100:]} {
		var res struct{ Value []batch.TaskAddResult }
		in.must(200, "POST", "/jobs/job1/addtaskcollection", map[string]any{"value": chunk}, &res)
		for _, r := range res.Value {
			require.Equal(t, "success", r.Status, "%+v", r)
		}
	}
	var res struct{ Value []batch.TaskAddResult }
	in.must(200, "POST", "/jobs/job1/addtaskcollection", map[string]any{"value": tasks[:1]}, &res)
	require.Equal(t, "TaskExists", res.Value[0].Error.Code)

	if !assertEventually(func() bool { return in.counts("job1").TaskCounts.Completed == 200 }, 90*time.Second) {
		for id, tk := range in.allTasks("job1") {
			if tk.State != batch.TaskCompleted {
				t.Logf("unfinished %s: state %s, exec %+v, node %+v", id, tk.State, tk.ExecutionInfo, tk.NodeInfo)
			}
		}
		t.Fatalf("tasks did not all complete: %+v", in.counts("job1"))
	}
	c := in.counts("job1")
	require.Equal(t, batch.TaskCounts{Completed: 200, Succeeded: 189, Failed: 11}, c.TaskCounts)

	all := in.allTasks("job1")
	require.Len(t, all, 200)
	for id, tk := range all {
		require.Equal(t, batch.TaskCompleted, tk.State, id)
		ei := tk.ExecutionInfo
		require.NotNil(t, ei, id)
		require.NotNil(t, tk.NodeInfo, id)
		switch {
		case strings.HasPrefix(id, "ok-"):
			require.Equal(t, batch.ResultSuccess, ei.Result, id)
			require.Equal(t, 0, *ei.ExitCode)
			require.Equal(t, 0, ei.RetryCount)
		case strings.HasPrefix(id, "fail-"):
			require.Equal(t, batch.ResultFailure, ei.Result, id)
			require.Equal(t, 7, *ei.ExitCode)
			require.Equal(t, 2, ei.RetryCount, id)
			require.Equal(t, "FailureExitCode", ei.FailureInfo.Code)
		case strings.HasPrefix(id, "flaky-"):
			require.Equal(t, batch.ResultSuccess, ei.Result, id)
			require.Equal(t, 1, ei.RetryCount, id)
		case id == "slow":
			require.Equal(t, batch.ResultFailure, ei.Result)
			require.Equal(t, "MaxWallClockTimeExpiry", ei.FailureInfo.Code)
			require.Less(t, ei.EndTime.Sub(ei.StartTime.Time), 10*time.Second)
		}
	}
	// stdout of a task, through the node.
	_, out := in.call("GET", "/jobs/job1/tasks/ok-007/files/stdout.txt", nil, nil)
	require.Equal(t, "hello from ok-007\nhi there\n", string(out))

	// A node killed with kill -9 mid-task: the task completes elsewhere,
	// requeued (not retried), and the node goes offline.
	in.must(201, "POST", "/jobs/job1/tasks", map[string]any{"id": "victim", "commandLine": "/bin/sh -c 'sleep 2; echo survived'"}, nil)
	var victim batch.Task
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/job1/tasks/victim", nil, &victim)
		return victim.State == batch.TaskRunning && victim.NodeInfo != nil
	}, 30*time.Second, 20*time.Millisecond)
	pids := workerPIDs(dataDir)
	deadNode := victim.NodeInfo.NodeID
	pid, ok := pids[deadNode]
	require.True(t, ok, "worker process of %s among %v", victim.NodeInfo.NodeID, pids)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		in.must(200, "GET", "/jobs/job1/tasks/victim", nil, &victim)
		return victim.State == batch.TaskCompleted
	}, 60*time.Second, 100*time.Millisecond)
	require.Equal(t, batch.ResultSuccess, victim.ExecutionInfo.Result)
	require.GreaterOrEqual(t, victim.ExecutionInfo.RequeueCount, 1)
	require.Equal(t, 0, victim.ExecutionInfo.RetryCount)
	require.NotEqual(t, deadNode, victim.NodeInfo.NodeID)
	require.Eventually(t, func() bool { // offline until the scaler forgets it
		var dead batch.ComputeNode
		code, _ := in.call("GET", "/pools/pool1/nodes/"+deadNode, nil, &dead)
		return code == 404 || dead.State == batch.NodeOffline
	}, 30*time.Second, 100*time.Millisecond, "the killed node never went offline")
	in.waitNodes("pool1", 2, batch.NodeIdle) // a replacement joined

	// Terminate a running task: its process dies.
	in.must(201, "POST", "/jobs/job1/tasks", map[string]any{"id": "longrun", "commandLine": "sleep 300"}, nil)
	require.Eventually(t, func() bool {
		var tk batch.Task
		in.must(200, "GET", "/jobs/job1/tasks/longrun", nil, &tk)
		return tk.State == batch.TaskRunning
	}, 30*time.Second, 20*time.Millisecond)
	in.must(204, "POST", "/jobs/job1/tasks/longrun/terminate", nil, nil)
	var ended batch.Task
	in.must(200, "GET", "/jobs/job1/tasks/longrun", nil, &ended)
	require.Equal(t, batch.TaskCompleted, ended.State)
	require.Equal(t, "TaskEnded", ended.ExecutionInfo.FailureInfo.Code)

	// Restart: state intact, nodes come back, work goes on; no orphans.
	in.stop()
	require.Empty(t, workerPIDs(dataDir), "worker processes outlived natch up")
	in = startUp(t, dataDir)
	require.Len(t, in.allTasks("job1"), 202)
	in.waitNodes("pool1", 2, batch.NodeIdle, batch.NodeRunning)
	in.must(201, "POST", "/jobs/job1/tasks", map[string]any{"id": "after-restart", "commandLine": "true"}, nil)
	require.Eventually(t, func() bool {
		var tk batch.Task
		in.must(200, "GET", "/jobs/job1/tasks/after-restart", nil, &tk)
		return tk.State == batch.TaskCompleted && tk.ExecutionInfo.Result == batch.ResultSuccess
	}, 60*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return in.counts("job1").TaskCounts.Completed == 203 },
		10*time.Second, 50*time.Millisecond, "task counts are eventually consistent")

	// Terminating a job kills its running tasks; deleting one removes it and kills them too.
	in.must(201, "POST", "/jobs", map[string]any{"id": "job2", "poolInfo": map[string]any{"poolId": "pool1"}}, nil)
	for job, marker := range map[string]string{"job1": "301", "job2": "302"} {
		in.must(201, "POST", "/jobs/"+job+"/tasks", map[string]any{"id": "sleeper", "commandLine": "sleep " + marker}, nil)
		require.Eventually(t, func() bool {
			var tk batch.Task
			in.must(200, "GET", "/jobs/"+job+"/tasks/sleeper", nil, &tk)
			return tk.State == batch.TaskRunning && processRunning("sleep", marker)
		}, 30*time.Second, 20*time.Millisecond)
	}
	in.must(202, "POST", "/jobs/job1/terminate", map[string]any{"terminateReason": "enough"}, nil)
	in.must(202, "DELETE", "/jobs/job2", nil, nil)
	require.Eventually(t, func() bool {
		var j batch.Job
		in.must(200, "GET", "/jobs/job1", nil, &j)
		return j.State == batch.JobCompleted && j.ExecutionInfo.TerminateReason == "enough"
	}, 30*time.Second, 50*time.Millisecond)
	var sleeper batch.Task
	in.must(200, "GET", "/jobs/job1/tasks/sleeper", nil, &sleeper)
	require.Equal(t, batch.TaskCompleted, sleeper.State)
	require.Equal(t, "TaskEnded", sleeper.ExecutionInfo.FailureInfo.Code)
	require.Eventually(t, func() bool {
		code, _ := in.call("GET", "/jobs/job2", nil, nil)
		return code == 404 && !processRunning("sleep", "301") && !processRunning("sleep", "302")
	}, 30*time.Second, 50*time.Millisecond, "job teardown left its processes running")
	code, raw = in.call("POST", "/jobs/job1/tasks", map[string]any{"id": "late", "commandLine": "true"}, nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(raw), "JobCompleted")
	in.must(202, "DELETE", "/pools/pool1", nil, nil)
	require.Eventually(t, func() bool {
		code, _ := in.call("GET", "/pools/pool1", nil, nil)
		return code == 404
	}, 60*time.Second, 100*time.Millisecond)
	require.Empty(t, workerPIDs(dataDir))
	in.stop()
	_ = os.RemoveAll(marks)
}
