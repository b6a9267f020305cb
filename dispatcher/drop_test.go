package dispatcher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// TestEndingQueuedTasksTellsTheNodes: terminating or deleting an active
// task, and disabling, terminating or deleting a job, tell the pool's nodes
// to drop what they hold of it for a slot (protocol.DropQueued), with the
// queue's sequence after the purge.
func TestEndingQueuedTasksTellsTheNodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sub, err := b.nc.SubscribeSync(topology.PoolDropSubject(account, "pool1"))
	require.NoError(t, err)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "Pool1", "vmSize": "x", "targetDedicatedNodes": 0})
	require.Equal(t, 201, code, string(body))
	for _, job := range []string{"Job1", "Job2"} {
		code, body = b.do(t, "POST", "/jobs", map[string]any{"id": job, "poolInfo": map[string]any{"poolId": "Pool1"}})
		require.Equal(t, 201, code, string(body))
		code, body = b.do(t, "POST", "/jobs/"+job+"/addtaskcollection", map[string]any{"value": []map[string]any{
			{"id": "t1", "commandLine": "true"}, {"id": "t2", "commandLine": "true"}, {"id": "t3", "commandLine": "true"}}})
		require.Equal(t, 200, code, string(body))
	}
	next := func() protocol.DropQueued {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		var d protocol.DropQueued
		require.NoError(t, json.Unmarshal(m.Data, &d))
		require.GreaterOrEqual(t, d.UpToSeq, uint64(6), "at or above the queued tasks' sequences")
		return d
	}

	code, body = b.do(t, "POST", "/jobs/Job1/tasks/t1/terminate", nil)
	require.Equal(t, 204, code, string(body))
	require.Equal(t, protocol.DropQueued{JobID: "Job1", TaskID: "t1"}, withoutSeq(next()))
	code, body = b.do(t, "DELETE", "/jobs/Job1/tasks/t2", nil)
	require.Equal(t, 200, code, string(body))
	require.Equal(t, protocol.DropQueued{JobID: "Job1", TaskID: "t2"}, withoutSeq(next()))
	code, body = b.do(t, "POST", "/jobs/Job1/disable", map[string]any{"disableTasks": "requeue"})
	require.Equal(t, 202, code, string(body))
	require.Equal(t, protocol.DropQueued{JobID: "Job1"}, withoutSeq(next()))
	code, body = b.do(t, "POST", "/jobs/Job2/terminate", nil)
	require.Equal(t, 202, code, string(body))
	d := withoutSeq(next())
	if d.JobID == "Job1" {
		d = withoutSeq(next()) // a disable purges twice (tasks queued meanwhile), and says so twice
	}
	require.Equal(t, protocol.DropQueued{JobID: "Job2"}, d)
	code, body = b.do(t, "DELETE", "/jobs/Job2", nil)
	require.Equal(t, 202, code, string(body))
}

func withoutSeq(d protocol.DropQueued) protocol.DropQueued {
	d.UpToSeq = 0
	return d
}
