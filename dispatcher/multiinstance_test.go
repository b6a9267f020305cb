package dispatcher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// putNodes writes n idle node records of a pool.
func (b *testBundle) putNodes(t *testing.T, pool string, n int) {
	t.Helper()
	kv, err := b.js.KeyValue(t.Context(), topology.NodesBucket)
	require.NoError(t, err)
	for i := range n {
		id := "node" + string(rune('0'+i))
		rec := protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: id, State: batch.NodeIdle}, Account: account,
			PoolID: pool, Heartbeat: time.Now(), Slots: 1}
		data, err := json.Marshal(rec)
		require.NoError(t, err)
		_, err = kv.Put(t.Context(), topology.NodeKey(account, pool, id), data)
		require.NoError(t, err)
	}
}

// putRendezvous writes the rendezvous of a task's attempt 0.
func (b *testBundle) putRendezvous(t *testing.T, job, task string, r *protocol.Rendezvous) jetstream.KeyValue {
	t.Helper()
	kv, err := b.js.KeyValue(t.Context(), topology.RendezvousBucket)
	require.NoError(t, err)
	data, err := json.Marshal(r)
	require.NoError(t, err)
	_, err = kv.Put(t.Context(), topology.RendezvousKey(account, job, task, 0), data)
	require.NoError(t, err)
	return kv
}

func TestMultiInstanceTaskAdd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "mpi", "vmSize": "x", "enableInterNodeCommunication": true})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/pools", map[string]any{"id": "plain", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	for _, j := range []struct{ id, pool string }{{"mj", "mpi"}, {"pj", "plain"}} {
		code, body = b.do(t, "POST", "/jobs", map[string]any{"id": j.id, "poolInfo": map[string]any{"poolId": j.pool}})
		require.Equal(t, 201, code, string(body))
	}
	mi := func(id string, n int) map[string]any {
		return map[string]any{"id": id, "commandLine": "run", "multiInstanceSettings": map[string]any{
			"numberOfInstances": n, "coordinationCommandLine": "coord"}}
	}

	// Rejected on a pool without inter-node communication, one by one and
	// in a collection; nothing is created.
	code, body = b.do(t, "POST", "/jobs/pj/tasks", mi("t1", 2))
	require.Equal(t, 400, code)
	require.Contains(t, string(body), `{"key":"PropertyName","value":"multiInstanceSettings"}`)
	code, body = b.do(t, "POST", "/jobs/pj/addtaskcollection", map[string]any{"value": []any{mi("t1", 2),
		map[string]any{"id": "plain", "commandLine": "run"}}})
	require.Equal(t, 200, code, string(body))
	var res struct{ Value []batch.TaskAddResult }
	require.NoError(t, json.Unmarshal(body, &res))
	require.Equal(t, "clienterror", res.Value[0].Status)
	require.Equal(t, "InvalidPropertyValue", res.Value[0].Error.Code)
	require.Equal(t, "success", res.Value[1].Status)
	code, _ = b.do(t, "GET", "/jobs/pj/tasks/t1", nil)
	require.Equal(t, 404, code)

	// Accepted on an inter-node pool: one ready message, the primary's.
	w := newFakeWorker(t, b, "mpi")
	code, body = b.do(t, "POST", "/jobs/mj/tasks", mi("mpi", 3))
	require.Equal(t, 201, code, string(body))
	msgs := w.next(5, 500*time.Millisecond)
	require.Len(t, msgs, 1)
	tm := taskOf(t, msgs[0])
	require.Equal(t, 0, tm.Instance)
	require.Equal(t, 3, *tm.Task.MultiInstanceSettings.NumberOfInstances)
	require.Equal(t, "coord", tm.Task.MultiInstanceSettings.CoordinationCommandLine)
	require.Equal(t, topology.TaskSubject(account, "mpi", "mj", "mpi"), msgs[0].Subject())
	require.Equal(t, 3, *b.task(t, "mj", "mpi").MultiInstanceSettings.NumberOfInstances)
}

func TestMultiInstanceSubtasksAndWaitReason(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "mpi", "vmSize": "x", "enableInterNodeCommunication": true})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "mj", "poolInfo": map[string]any{"poolId": "mpi"}})
	require.Equal(t, 201, code, string(body))
	b.putNodes(t, "mpi", 2)
	code, body = b.do(t, "POST", "/jobs/mj/tasks", map[string]any{"id": "big", "commandLine": "run",
		"multiInstanceSettings": map[string]any{"numberOfInstances": 3, "coordinationCommandLine": "coord"}})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs/mj/tasks", map[string]any{"id": "small", "commandLine": "run",
		"multiInstanceSettings": map[string]any{"numberOfInstances": 2, "coordinationCommandLine": "coord"}})
	require.Equal(t, 201, code, string(body))

	// Three instances, two nodes: the task says so.
	r := b.task(t, "mj", "big").WaitReason
	require.Equal(t, "WaitingForMultiInstanceNodes", r.Code)
	require.Contains(t, r.Message, "needs 3 nodes")
	require.Contains(t, r.Message, "has 2 usable node(s)")

	// Before any instance joined: no subtasks, queued as usual.
	code, body = b.do(t, "GET", "/jobs/mj/tasks/small/subtasksinfo", nil)
	require.Equal(t, 200, code, string(body))
	require.Contains(t, string(body), `"value":[]`)
	require.Contains(t, string(body), `$metadata#subtaskinfo`)
	require.Equal(t, "Queued", b.task(t, "mj", "small").WaitReason.Code)

	// Instances meeting: the task says how many have a node.
	rv := protocol.NewRendezvous(2)
	rv.Members[0] = protocol.Member{NodeID: "node0", IPAddress: "10.0.0.4"}
	b.putRendezvous(t, "mj", "small", rv)
	r = b.task(t, "mj", "small").WaitReason
	require.Equal(t, "WaitingForMultiInstanceNodes", r.Code)
	require.Contains(t, r.Message, "1 of its instances have a node")

	// A rendezvous that timed out: the task says how far it got.
	rv.Waiting = &protocol.RendezvousTimeout{At: time.Now(), Joined: 1}
	b.putRendezvous(t, "mj", "small", rv)
	r = b.task(t, "mj", "small").WaitReason
	require.Equal(t, "WaitingForMultiInstanceNodes", r.Code)
	require.Contains(t, r.Message, "only 1 of its instances")

	// Subtask information comes from the rendezvous.
	now := time.Now().UTC().Truncate(time.Millisecond)
	rv.Waiting = nil
	rv.Members[1] = protocol.Member{NodeID: "node1", PoolID: "mpi", IPAddress: "10.0.0.5", TaskRootDir: "/n1/task",
		State: batch.SubtaskRunning, StateTransitionTime: batch.At(now), PreviousState: batch.SubtaskPreparing,
		StartTime: batch.At(now), ExitCode: exit(0)}
	kv := b.putRendezvous(t, "mj", "small", rv)
	code, body = b.do(t, "GET", "/jobs/mj/tasks/small/subtasksinfo", nil)
	require.Equal(t, 200, code, string(body))
	var subs struct{ Value []batch.SubtaskInformation }
	require.NoError(t, json.Unmarshal(body, &subs))
	require.Len(t, subs.Value, 1)
	s := subs.Value[0]
	require.Equal(t, 1, s.ID)
	require.Equal(t, batch.SubtaskRunning, s.State)
	require.Equal(t, batch.SubtaskPreparing, s.PreviousState)
	require.Equal(t, &batch.ComputeNodeInformation{AffinityID: "TVM:node1", PoolID: "mpi", NodeID: "node1",
		TaskRootDirectory: "/n1/task"}, s.NodeInfo)
	require.Equal(t, 0, *s.ExitCode)

	// Terminating the active task ends its rendezvous, so waiting
	// instances leave, and removes its queued subtasks.
	_, err := b.js.Publish(t.Context(), topology.SubtaskSubject(account, "mpi", "mj", "small", 1), []byte("{}"))
	require.NoError(t, err)
	code, _ = b.do(t, "POST", "/jobs/mj/tasks/small/terminate", nil)
	require.Equal(t, 204, code)
	e, err := kv.Get(t.Context(), topology.RendezvousKey(account, "mj", "small", 0))
	require.NoError(t, err)
	var ended protocol.Rendezvous
	require.NoError(t, json.Unmarshal(e.Value(), &ended))
	require.NotNil(t, ended.Ended)
	str, err := b.js.Stream(t.Context(), topology.TasksStream)
	require.NoError(t, err)
	_, err = str.GetLastMsgForSubject(t.Context(), topology.SubtasksFilter(account, "mpi", "mj", "small"))
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)

	// Deleting the job removes its rendezvous records.
	code, _ = b.do(t, "DELETE", "/jobs/mj", nil)
	require.Equal(t, 202, code)
	require.Eventually(t, func() bool {
		_, err := kv.Get(t.Context(), topology.RendezvousKey(account, "mj", "small", 0))
		return err != nil
	}, 10*time.Second, 20*time.Millisecond)

	// A task that is not multi-instance has no subtasks; a missing one 404.
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "j2", "poolInfo": map[string]any{"poolId": "mpi"}})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs/j2/tasks", map[string]any{"id": "plain", "commandLine": "run"})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "GET", "/jobs/j2/tasks/plain/subtasksinfo", nil)
	require.Equal(t, 200, code, string(body))
	require.Contains(t, string(body), `"value":[]`)
	code, body = b.do(t, "GET", "/jobs/j2/tasks/nope/subtasksinfo", nil)
	require.Equal(t, 404, code)
	require.Contains(t, string(body), "TaskNotFound")

	// The same operation over the NATS API.
	req, err := json.Marshal(protocol.APIRequest{JobID: "j2", TaskID: "plain"})
	require.NoError(t, err)
	m, err := b.nc.Request(topology.APISubject(account, "task.listsubtasks"), req, 5*time.Second)
	require.NoError(t, err)
	var resp protocol.APIResponse
	require.NoError(t, json.Unmarshal(m.Data, &resp))
	require.Equal(t, 200, resp.Status, string(resp.Body))
	require.Contains(t, string(resp.Body), `"value":[]`)
}
