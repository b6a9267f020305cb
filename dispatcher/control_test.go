package dispatcher_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// fakeWorker pulls a pool's ready tasks and reports their events, as a
// worker on node1 would.
type fakeWorker struct {
	t    *testing.T
	b    *testBundle
	cons jetstream.Consumer
}

func newFakeWorker(t *testing.T, b *testBundle, pool string) *fakeWorker {
	cons, err := topology.EnsurePoolConsumer(context.Background(), b.js, account, pool, 0, false)
	require.NoError(t, err)
	return &fakeWorker{t: t, b: b, cons: cons}
}

// pending is how many ready messages wait in the pool's queue.
func (w *fakeWorker) pending() int {
	info, err := w.cons.Info(context.Background())
	require.NoError(w.t, err)
	return int(info.NumPending)
}

// next returns the ready messages that arrive within wait, at most n.
func (w *fakeWorker) next(n int, wait time.Duration) []jetstream.Msg {
	var out []jetstream.Msg
	deadline := time.Now().Add(wait)
	for len(out) < n && time.Now().Before(deadline) {
		msgs, err := w.cons.Fetch(n-len(out), jetstream.FetchMaxWait(time.Until(deadline)))
		require.NoError(w.t, err)
		for m := range msgs.Messages() {
			out = append(out, m)
		}
	}
	return out
}

func taskOf(t *testing.T, m jetstream.Msg) protocol.TaskMessage {
	var tm protocol.TaskMessage
	require.NoError(t, json.Unmarshal(m.Data(), &tm))
	return tm
}

// report publishes an event of a pulled task; exit nil reports running.
func (w *fakeWorker) report(m jetstream.Msg, exit *int) {
	tm := taskOf(w.t, m)
	meta, err := m.Metadata()
	require.NoError(w.t, err)
	ev := protocol.TaskEvent{Type: protocol.EventRunning, Account: account, JobID: tm.JobID, TaskID: tm.Task.ID,
		PoolID: tm.PoolID, NodeID: "node1", Attempt: tm.Attempt, Delivery: int(meta.NumDelivered), StartTime: time.Now()}
	if exit != nil {
		ev.Type, ev.EndTime, ev.ExitCode = protocol.EventCompleted, time.Now(), exit
		if *exit != 0 {
			ev.FailureInfo = &batch.TaskFailureInformation{Category: "usererror", Code: "FailureExitCode"}
		}
		require.NoError(w.t, m.Ack())
	}
	data, _ := json.Marshal(ev)
	_, err = w.b.js.Publish(context.Background(), topology.EventSubject(account, strings.ToLower(tm.JobID), strings.ToLower(tm.Task.ID)), data)
	require.NoError(w.t, err)
}

func (b *testBundle) task(t *testing.T, job, id string) batch.Task {
	t.Helper()
	code, body := b.do(t, "GET", "/jobs/"+job+"/tasks/"+id, nil)
	require.Equal(t, 200, code, string(body))
	var task batch.Task
	require.NoError(t, json.Unmarshal(body, &task))
	return task
}

func (b *testBundle) waitTaskState(t *testing.T, job, id, state string) batch.Task {
	t.Helper()
	var task batch.Task
	require.Eventually(t, func() bool {
		task = b.task(t, job, id)
		return task.State == state
	}, 10*time.Second, 20*time.Millisecond, "task %s never became %s", id, state)
	return task
}

func TestTaskReactivateAndUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code)
	w := newFakeWorker(t, b, "pool1")
	code, _ = b.do(t, "POST", "/jobs/job1/tasks", map[string]any{"id": "t1", "commandLine": "false"})
	require.Equal(t, 201, code)

	code, body = b.do(t, "POST", "/jobs/job1/tasks/t1/reactivate", nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(body), `"code":"TaskNotCompleted"`)

	msgs := w.next(1, 5*time.Second)
	require.Len(t, msgs, 1)
	require.Equal(t, 0, taskOf(t, msgs[0]).Attempt)
	one := 1
	w.report(msgs[0], &one)
	b.waitTaskState(t, "job1", "t1", "completed")

	code, body = b.do(t, "POST", "/jobs/job1/tasks/t1/reactivate", nil)
	require.Equal(t, 204, code, string(body))
	task := b.task(t, "job1", "t1")
	require.Equal(t, "active", task.State)
	require.Equal(t, "completed", task.PreviousState)
	require.Zero(t, task.ExecutionInfo.RetryCount)
	require.Empty(t, task.ExecutionInfo.Result)
	require.Nil(t, task.ExecutionInfo.ExitCode)
	require.Eventually(t, func() bool {
		_, body := b.do(t, "GET", "/jobs/job1/taskcounts", nil)
		return strings.Contains(string(body), `"taskCounts":{"active":1,"running":0,"completed":0,"succeeded":0,"failed":0}`)
	}, 5*time.Second, 20*time.Millisecond)

	msgs = w.next(1, 5*time.Second)
	require.Len(t, msgs, 1)
	require.Equal(t, 1, taskOf(t, msgs[0]).Attempt, "a reactivated task runs as a new attempt")
	zero := 0
	w.report(msgs[0], &zero)
	task = b.waitTaskState(t, "job1", "t1", "completed")
	require.Equal(t, batch.ResultSuccess, task.ExecutionInfo.Result)
	code, body = b.do(t, "POST", "/jobs/job1/tasks/t1/reactivate", nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(body), `"code":"TaskSucceeded"`)
	code, _ = b.do(t, "POST", "/jobs/job1/tasks/nope/reactivate", nil)
	require.Equal(t, 404, code)

	// Update replaces the constraints, defaulting what is omitted.
	code, body = b.do(t, "PUT", "/jobs/job1/tasks/t1", map[string]any{"constraints": map[string]any{"maxTaskRetryCount": 3}})
	require.Equal(t, 200, code, string(body))
	task = b.task(t, "job1", "t1")
	require.Equal(t, 3, *task.Constraints.MaxTaskRetryCount)
	require.Equal(t, batch.Infinite, *task.Constraints.MaxWallClockTime)
	code, body = b.do(t, "PUT", "/jobs/job1/tasks/t1", map[string]any{"constraints": map[string]any{"maxTaskRetryCount": -2}})
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "constraints.maxTaskRetryCount")
	code, _ = b.do(t, "PUT", "/jobs/job1/tasks/nope", map[string]any{})
	require.Equal(t, 404, code)
	code, _ = b.do(t, "PUT", "/jobs/job1/tasks/t1", map[string]any{})
	require.Equal(t, 200, code)
	require.Equal(t, 0, *b.task(t, "job1", "t1").Constraints.MaxTaskRetryCount)
}

func TestJobDisableEnable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code)
	w := newFakeWorker(t, b, "pool1")

	code, _ = b.do(t, "POST", "/jobs/job1/tasks", map[string]any{"id": "run", "commandLine": "sleep 60"})
	require.Equal(t, 201, code)
	msgs := w.next(1, 5*time.Second)
	require.Len(t, msgs, 1)
	w.report(msgs[0], nil)
	b.waitTaskState(t, "job1", "run", "running")
	code, _ = b.do(t, "POST", "/jobs/job1/tasks", map[string]any{"id": "queued", "commandLine": "true"})
	require.Equal(t, 201, code)

	code, body = b.do(t, "POST", "/jobs/job1/disable", map[string]any{"disableTasks": "bogus"})
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "disableTasks")
	code, body = b.do(t, "POST", "/jobs/job1/enable", nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(body), `"code":"JobNotDisabled"`)

	code, body = b.do(t, "POST", "/jobs/job1/disable", map[string]any{"disableTasks": "requeue"})
	require.Equal(t, 202, code, string(body))
	code, body = b.do(t, "GET", "/jobs/job1", nil)
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `"state":"disabled"`)
	require.Contains(t, string(body), `"previousState":"active"`)
	task := b.task(t, "job1", "run")
	require.Equal(t, "active", task.State, "requeue puts running tasks back")
	require.Nil(t, task.NodeInfo)
	code, body = b.do(t, "POST", "/jobs/job1/disable", map[string]any{"disableTasks": "wait"})
	require.Equal(t, 409, code)
	require.Contains(t, string(body), `"code":"JobDisabled"`)

	// A disabled job accepts tasks but dispatches nothing.
	code, _ = b.do(t, "POST", "/jobs/job1/tasks", map[string]any{"id": "late", "commandLine": "true"})
	require.Equal(t, 201, code)
	require.Empty(t, w.next(1, 500*time.Millisecond))
	// What the killed attempt reports is ignored.
	zero := 0
	w.report(msgs[0], &zero)
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, "active", b.task(t, "job1", "run").State)

	code, body = b.do(t, "POST", "/jobs/job1/enable", nil)
	require.Equal(t, 202, code, string(body))
	_, body = b.do(t, "GET", "/jobs/job1", nil)
	require.Contains(t, string(body), `"state":"active"`)
	msgs = w.next(3, 5*time.Second)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[taskOf(t, m).Task.ID] = true
		w.report(m, &zero)
	}
	require.Equal(t, map[string]bool{"run": true, "queued": true, "late": true}, ids)
	require.Empty(t, w.next(1, 300*time.Millisecond), "each task is queued once")
	for id := range ids {
		require.Equal(t, batch.ResultSuccess, b.waitTaskState(t, "job1", id, "completed").ExecutionInfo.Result)
	}

	// terminate ends the running tasks.
	code, _ = b.do(t, "POST", "/jobs/job1/tasks", map[string]any{"id": "run2", "commandLine": "sleep 60"})
	require.Equal(t, 201, code)
	msgs = w.next(1, 5*time.Second)
	require.Len(t, msgs, 1)
	w.report(msgs[0], nil)
	b.waitTaskState(t, "job1", "run2", "running")
	code, _ = b.do(t, "POST", "/jobs/job1/disable", map[string]any{"disableTasks": "terminate"})
	require.Equal(t, 202, code)
	task = b.task(t, "job1", "run2")
	require.Equal(t, "completed", task.State)
	require.Equal(t, "TaskEnded", task.ExecutionInfo.FailureInfo.Code)
	code, _ = b.do(t, "POST", "/jobs/job1/enable", nil)
	require.Equal(t, 202, code)
	code, _ = b.do(t, "POST", "/jobs/nope/disable", map[string]any{"disableTasks": "wait"})
	require.Equal(t, 404, code)
}

func TestPoolPatchAndUpdateProperties(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x",
		"startTask": map[string]any{"commandLine": "echo hi"}, "metadata": []map[string]any{{"name": "a", "value": "1"}}})
	require.Equal(t, 201, code, string(body))
	get := func() batch.Pool {
		code, body := b.do(t, "GET", "/pools/pool1", nil)
		require.Equal(t, 200, code)
		var p batch.Pool
		require.NoError(t, json.Unmarshal(body, &p))
		return p
	}
	code, body = b.do(t, "PATCH", "/pools/pool1", map[string]any{"metadata": []map[string]any{{"name": "b", "value": "2"}}})
	require.Equal(t, 200, code, string(body))
	p := get()
	require.Equal(t, []batch.NameValue{{Name: "b", Value: "2"}}, p.Metadata)
	require.Equal(t, "echo hi", p.StartTask.CommandLine, "patch keeps what it does not supply")
	code, _ = b.do(t, "PATCH", "/pools/pool1", map[string]any{"startTask": map[string]any{}})
	require.Equal(t, 400, code)

	code, body = b.do(t, "POST", "/pools/pool1/updateproperties", map[string]any{"certificateReferences": []any{},
		"applicationPackageReferences": []any{}, "metadata": []any{}})
	require.Equal(t, 204, code, string(body))
	p = get()
	require.Nil(t, p.StartTask, "updateProperties replaces everything")
	require.Nil(t, p.Metadata)
	require.Equal(t, "default", p.TargetNodeCommunicationMode)
	code, body = b.do(t, "POST", "/pools/pool1/updateproperties", map[string]any{"metadata": []any{}})
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "MissingRequiredProperty")
	code, _ = b.do(t, "PATCH", "/pools/nope", map[string]any{})
	require.Equal(t, 404, code)
}
