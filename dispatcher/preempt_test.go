package dispatcher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// TestPreemptNode: the natch-preempt operation, over REST and NATS, turns a
// low-priority node's record preempted with no running tasks; it is
// idempotent, refuses dedicated nodes, and answers 404 for unknown pools
// and nodes.
func TestPreemptNode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "spot", "vmSize": "standard_d2s_v3"})
	require.Equal(t, 201, code, string(body))
	ctx := t.Context()
	nodes, err := b.js.KeyValue(ctx, topology.NodesBucket)
	require.NoError(t, err)
	put := func(id string, dedicated bool) {
		rec := protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: id, State: batch.NodeRunning, IsDedicated: dedicated,
			RunningTasksCount: 1, RunningTaskSlotsCount: 1}, Account: account, PoolID: "spot", Heartbeat: time.Now(),
			RunningTasks: []string{"job/task"}}
		raw, err := json.Marshal(rec)
		require.NoError(t, err)
		_, err = nodes.Put(ctx, topology.NodeKey(account, "spot", id), raw)
		require.NoError(t, err)
	}
	record := func(id string) protocol.NodeRecord {
		e, err := nodes.Get(ctx, topology.NodeKey(account, "spot", id))
		require.NoError(t, err)
		var r protocol.NodeRecord
		require.NoError(t, json.Unmarshal(e.Value(), &r))
		return r
	}
	put("low1", false)
	put("low2", false)
	put("ded", true)

	code, body = b.do(t, "POST", "/pools/spot/nodes/low1/natch-preempt", nil)
	require.Equal(t, 202, code, string(body))
	r := record("low1")
	require.Equal(t, batch.NodePreempted, r.State)
	require.NotNil(t, r.StateTransitionTime)
	require.Zero(t, r.RunningTasksCount)
	require.Empty(t, r.RunningTasks)
	code, _ = b.do(t, "POST", "/pools/spot/nodes/low1/natch-preempt", nil)
	require.Equal(t, 202, code, "preempting a preempted node changes nothing")

	code, body = b.do(t, "POST", "/pools/spot/nodes/ded/natch-preempt", nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(body), "NodeIsDedicated")
	require.Equal(t, batch.NodeRunning, record("ded").State)
	code, body = b.do(t, "POST", "/pools/spot/nodes/nope/natch-preempt", nil)
	require.Equal(t, 404, code)
	require.Contains(t, string(body), "NodeNotFound")
	code, body = b.do(t, "POST", "/pools/nopool/nodes/low2/natch-preempt", nil)
	require.Equal(t, 404, code)
	require.Contains(t, string(body), "PoolNotFound")

	// The NATS op.
	data, err := json.Marshal(protocol.APIRequest{PoolID: "spot", NodeID: "low2"})
	require.NoError(t, err)
	var m *nats.Msg
	require.Eventually(t, func() bool { // the NATS API subscribes as the dispatcher starts
		m, err = b.nc.Request(topology.APISubject(account, "node.preempt"), data, 5*time.Second)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	var resp protocol.APIResponse
	require.NoError(t, json.Unmarshal(m.Data, &resp))
	require.Equal(t, 202, resp.Status, string(resp.Body))
	require.Equal(t, batch.NodePreempted, record("low2").State)
}
