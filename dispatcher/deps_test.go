package dispatcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// depsJob creates pool1 and a job that uses task dependencies.
func depsJob(t *testing.T, b *testBundle, job string, extra map[string]any) *fakeWorker {
	t.Helper()
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Contains(t, []int{201, 409}, code, string(body))
	j := map[string]any{"id": job, "poolInfo": map[string]any{"poolId": "pool1"}, "usesTaskDependencies": true}
	for k, v := range extra {
		j[k] = v
	}
	code, body = b.do(t, "POST", "/jobs", j)
	require.Equal(t, 201, code, string(body))
	return newFakeWorker(t, b, "pool1")
}

func (b *testBundle) addTask(t *testing.T, job string, task map[string]any) {
	t.Helper()
	code, body := b.do(t, "POST", "/jobs/"+job+"/tasks", task)
	require.Equal(t, 201, code, string(body))
}

// ids returns the task ids of ready messages, sorted.
func ids(t *testing.T, msgs []jetstream.Msg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, taskOf(t, m).Task.ID)
	}
	slices.Sort(out)
	return out
}

func exit(code int) *int { return &code }

func TestDependenciesWaitForParents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := depsJob(t, b, "job1", nil)
	// Children first: parents that do not exist yet are waited for too.
	b.addTask(t, "job1", map[string]any{"id": "merge", "commandLine": "true",
		"dependsOn": map[string]any{"taskIds": []string{"a"}, "taskIdRanges": []any{map[string]int{"start": 1, "end": 2}}}})
	b.addTask(t, "job1", map[string]any{"id": "last", "commandLine": "true", "dependsOn": map[string]any{"taskIds": []string{"merge"}}})
	b.addTask(t, "job1", map[string]any{"id": "a", "commandLine": "true"})
	b.addTask(t, "job1", map[string]any{"id": "1", "commandLine": "true"})
	b.addTask(t, "job1", map[string]any{"id": "002", "commandLine": "true"}) // ranges ignore leading zeros

	msgs := w.next(5, time.Second)
	require.Equal(t, []string{"002", "1", "a"}, ids(t, msgs), "only the parents are queued")
	merge := b.task(t, "job1", "merge")
	require.Equal(t, "active", merge.State)
	require.Equal(t, "WaitingForDependencies", merge.WaitReason.Code)
	require.Contains(t, merge.WaitReason.Message, "3 task(s)")
	require.Equal(t, "NoNodes", b.task(t, "job1", "a").WaitReason.Code, "no node has registered in this test")

	w.report(msgs[0], exit(0))
	w.report(msgs[1], exit(0))
	require.Empty(t, w.next(1, 300*time.Millisecond), "merge waits for its last parent")
	w.report(msgs[2], exit(0))
	next := w.next(2, time.Second) // less than the ack wait: a second copy would be a duplicate
	require.Equal(t, []string{"merge"}, ids(t, next))
	w.report(next[0], exit(0))
	next = w.next(1, 5*time.Second)
	require.Equal(t, []string{"last"}, ids(t, next))
	w.report(next[0], exit(0))
	b.waitTaskState(t, "job1", "last", "completed")
}

func TestDependencyBlockedByFailureUntilReactivated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := depsJob(t, b, "job1", nil)
	b.addTask(t, "job1", map[string]any{"id": "p", "commandLine": "false"})
	// A parent with exit code 3 mapped to satisfy.
	b.addTask(t, "job1", map[string]any{"id": "q", "commandLine": "false", "exitConditions": map[string]any{
		"exitCodes": []any{map[string]any{"code": 3, "exitOptions": map[string]any{"dependencyAction": "Satisfy"}}}}})
	b.addTask(t, "job1", map[string]any{"id": "c1", "commandLine": "true", "dependsOn": map[string]any{"taskIds": []string{"p"}}})
	b.addTask(t, "job1", map[string]any{"id": "c2", "commandLine": "true", "dependsOn": map[string]any{"taskIds": []string{"q"}}})

	msgs := w.next(2, 5*time.Second)
	require.Equal(t, []string{"p", "q"}, ids(t, msgs))
	for _, m := range msgs {
		w.report(m, exit(map[string]int{"p": 1, "q": 3}[taskOf(t, m).Task.ID]))
	}
	next := w.next(2, time.Second)
	require.Equal(t, []string{"c2"}, ids(t, next), "exit 3 of q satisfies c2; exit 1 of p blocks c1")
	w.report(next[0], exit(0))
	b.waitTaskState(t, "job1", "c2", "completed")
	b.waitTaskState(t, "job1", "p", "completed")
	c1 := b.task(t, "job1", "c1")
	require.Equal(t, "active", c1.State)
	require.Equal(t, "BlockedByDependency", c1.WaitReason.Code)
	require.Contains(t, c1.WaitReason.Message, "Task p ")
	require.Nil(t, b.task(t, "job1", "c2").WaitReason, "only active tasks wait")
	require.Empty(t, w.next(1, 300*time.Millisecond))

	// Reactivating the parent unblocks its dependent once it succeeds.
	code, body := b.do(t, "POST", "/jobs/job1/tasks/p/reactivate", nil)
	require.Equal(t, 204, code, string(body))
	again := w.next(1, 5*time.Second)
	require.Equal(t, []string{"p"}, ids(t, again))
	w.report(again[0], exit(0))
	next = w.next(1, 5*time.Second)
	require.Equal(t, []string{"c1"}, ids(t, next))
}

func TestDependencyOnTerminatedTaskBlocks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := depsJob(t, b, "job1", nil)
	b.addTask(t, "job1", map[string]any{"id": "p", "commandLine": "sleep 100"})
	b.addTask(t, "job1", map[string]any{"id": "c", "commandLine": "true", "dependsOn": map[string]any{"taskIds": []string{"p"}}})
	b.addTask(t, "job1", map[string]any{"id": "s", "commandLine": "true", "dependsOn": map[string]any{"taskIds": []string{"p"}},
		"exitConditions": map[string]any{}})
	code, body := b.do(t, "POST", "/jobs/job1/tasks/p/terminate", nil)
	require.Equal(t, 204, code, string(body))
	require.Empty(t, ids(t, w.next(3, 500*time.Millisecond)), "a terminated parent blocks its dependents")
	require.Equal(t, "active", b.task(t, "job1", "c").State)
}

func TestDependencyValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, _ := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code)
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "plain", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code)
	code, body := b.do(t, "POST", "/jobs/plain/tasks", map[string]any{"id": "c", "commandLine": "true",
		"dependsOn": map[string]any{"taskIds": []string{"p"}}})
	require.Equal(t, 400, code)
	require.Contains(t, string(body), `"code":"TaskDependenciesNotSpecifiedOnJob"`)
	code, body = b.do(t, "POST", "/jobs/plain/tasks", map[string]any{"id": "c", "commandLine": "true",
		"exitConditions": map[string]any{"default": map[string]any{"jobAction": "terminate"}}})
	require.Equal(t, 400, code, "a jobAction needs onTaskFailure performexitoptionsjobaction")
	require.Contains(t, string(body), "exitConditions.default.jobAction")
	code, _ = b.do(t, "GET", "/jobs/plain/tasks/c", nil)
	require.Equal(t, 404, code, "a refused task is not stored")

	depsJob(t, b, "deps", nil)
	for _, bad := range []map[string]any{
		{"taskIds": []string{"c"}},
		{"taskIdRanges": []any{map[string]int{"start": 5, "end": 4}}},
		{"taskIdRanges": []any{map[string]int{"start": 0, "end": 200000}}},
		{"taskIds": []string{"bad id"}},
	} {
		code, body = b.do(t, "POST", "/jobs/deps/tasks", map[string]any{"id": "c", "commandLine": "true", "dependsOn": bad})
		require.Equal(t, 400, code, "%v: %s", bad, body)
	}
}

func TestExitConditionJobActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := depsJob(t, b, "term", map[string]any{"onTaskFailure": "performExitOptionsJobAction"})
	b.addTask(t, "term", map[string]any{"id": "ok", "commandLine": "true"})
	b.addTask(t, "term", map[string]any{"id": "bad", "commandLine": "false"})
	b.addTask(t, "term", map[string]any{"id": "never", "commandLine": "true", "dependsOn": map[string]any{"taskIds": []string{"bad"}}})
	msgs := w.next(2, 5*time.Second)
	require.Len(t, msgs, 2)
	for _, m := range msgs {
		w.report(m, exit(map[string]int{"ok": 0, "bad": 2}[taskOf(t, m).Task.ID]))
	}
	require.Eventually(t, func() bool {
		code, body := b.do(t, "GET", "/jobs/term", nil)
		require.Equal(t, 200, code)
		return jsonField(body, "state") == "completed" && jsonPath(body, "executionInfo", "terminateReason") == "TaskFailed"
	}, 10*time.Second, 20*time.Millisecond, "a non-zero exit terminates the job by default")

	w2 := depsJob(t, b, "dis", map[string]any{"onTaskFailure": "performexitoptionsjobaction"})
	_ = w2
	b.addTask(t, "dis", map[string]any{"id": "x", "commandLine": "false", "exitConditions": map[string]any{
		"exitCodeRanges": []any{map[string]any{"start": 10, "end": 20, "exitOptions": map[string]any{"jobAction": "disable"}}}}})
	b.addTask(t, "dis", map[string]any{"id": "y", "commandLine": "false", "exitConditions": map[string]any{
		"exitCodes": []any{map[string]any{"code": 1, "exitOptions": map[string]any{"jobAction": "none"}}}}})
	var got []jetstream.Msg
	for len(got) < 2 {
		ms := w.next(2, 5*time.Second)
		require.NotEmpty(t, ms)
		for _, m := range ms {
			if taskOf(t, m).JobID == "dis" {
				got = append(got, m)
			}
		}
	}
	for _, m := range got {
		w.report(m, exit(map[string]int{"x": 15, "y": 1}[taskOf(t, m).Task.ID]))
	}
	require.Eventually(t, func() bool {
		_, body := b.do(t, "GET", "/jobs/dis", nil)
		return jsonField(body, "state") == "disabled"
	}, 10*time.Second, 20*time.Millisecond, "exit 15 of x disables the job")
}

func TestDependencyFanIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := depsJob(t, b, "job1", nil)
	const n = 500
	b.addTask(t, "job1", map[string]any{"id": "merge", "commandLine": "true",
		"dependsOn": map[string]any{"taskIdRanges": []any{map[string]int{"start": 0, "end": n - 1}}}})
	for i := 0; i < n; i += 100 {
		var tasks []map[string]any
		for k := i; k < i+100; k++ {
			tasks = append(tasks, map[string]any{"id": strconv.Itoa(k), "commandLine": "true"})
		}
		code, body := b.do(t, "POST", "/jobs/job1/addtaskcollection", map[string]any{"value": tasks})
		require.Equal(t, 200, code, string(body))
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for !seen["merge"] && time.Now().Before(deadline) {
		for _, m := range fresh(t, w.next(200, 500*time.Millisecond)) {
			id := taskOf(t, m).Task.ID
			require.False(t, seen[id], "task %s queued twice", id)
			if id == "merge" {
				require.Len(t, seen, n, "merge ran before all its parents ended")
			}
			seen[id] = true
			w.report(m, exit(0))
		}
	}
	require.True(t, seen["merge"], fmt.Sprintf("merge never queued; %d parents ran", len(seen)))
}

// jsonPath returns the string at a path of object keys in a JSON body ("" if absent).
func jsonPath(body []byte, path ...string) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func jsonField(body []byte, key string) string { return jsonPath(body, key) }

func TestWaitReasons(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code)
	b.addTask(t, "job1", map[string]any{"id": "t1", "commandLine": "true"})
	reason := func() string {
		r := b.task(t, "job1", "t1").WaitReason
		require.NotNil(t, r)
		return r.Code
	}
	require.Equal(t, "NoNodes", reason())
	code, body = b.do(t, "POST", "/pools/pool1/resize", map[string]any{"targetDedicatedNodes": 1})
	require.Equal(t, 202, code, string(body))
	require.Equal(t, "PoolResizing", reason())

	kv, err := b.js.KeyValue(context.Background(), topology.NodesBucket)
	require.NoError(t, err)
	putNode := func(state string, running int) {
		rec := protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: "n1", State: state, RunningTaskSlotsCount: running},
			Account: account, PoolID: "pool1", Slots: 1, Heartbeat: time.Now()}
		data, _ := json.Marshal(rec)
		_, err := kv.Put(context.Background(), topology.NodeKey(account, "pool1", "n1"), data)
		require.NoError(t, err)
	}
	putNode(batch.NodeRunning, 1)
	require.Equal(t, "AllSlotsBusy", reason())
	putNode(batch.NodeIdle, 0)
	require.Equal(t, "Queued", reason())
	code, body = b.do(t, "POST", "/jobs/job1/disable", map[string]any{"disableTasks": "requeue"})
	require.Equal(t, 202, code, string(body))
	require.Eventually(t, func() bool { return reason() == "JobDisabled" }, 5*time.Second, 20*time.Millisecond)

	var list struct{ Value []batch.Task }
	code, body = b.do(t, "GET", "/jobs/job1/tasks", nil)
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal(body, &list))
	require.Equal(t, "JobDisabled", list.Value[0].WaitReason.Code, "lists carry the reason too")
}
