package dispatcher_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// putIdleNode registers a node record (as a worker would) so that a pool
// has capacity: slots task slots.
func (b *testBundle) putIdleNode(t *testing.T, pool, node string, slots int) {
	t.Helper()
	kv, err := b.js.KeyValue(context.Background(), topology.NodesBucket)
	require.NoError(t, err)
	rec := protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: node, State: batch.NodeIdle},
		Account: account, PoolID: pool, Slots: slots, Heartbeat: time.Now()}
	data, _ := json.Marshal(rec)
	_, err = kv.Put(context.Background(), topology.NodeKey(account, pool, node), data)
	require.NoError(t, err)
}

// jobsOf returns the job ids of ready messages, in order.
func jobsOf(t *testing.T, msgs []jetstream.Msg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, taskOf(t, m).JobID)
	}
	return out
}

// TestJobPriority: in a pool whose jobs differ in priority, tasks of the
// higher-priority job go first; a task already queued is not overtaken.
func TestJobPriority(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	b.putIdleNode(t, "pool1", "n1", 1) // room for 1 running + 1 queued
	w := newFakeWorker(t, b, "pool1")
	for id, prio := range map[string]int{"low": 0, "high": 100} {
		code, body = b.do(t, "POST", "/jobs", map[string]any{"id": id, "poolInfo": map[string]any{"poolId": "pool1"}, "priority": prio})
		require.Equal(t, 201, code, string(body))
	}
	for i := range 4 {
		b.addTask(t, "low", map[string]any{"id": "l" + strconv.Itoa(i), "commandLine": "true"})
	}
	require.Eventually(t, func() bool { return w.pending() == 2 }, 5*time.Second, 20*time.Millisecond,
		"the pool's room (1 slot + 1 queued) is filled from the only job with tasks")
	for i := range 3 {
		b.addTask(t, "high", map[string]any{"id": "h" + strconv.Itoa(i), "commandLine": "true"})
	}
	r := b.task(t, "low", "l3").WaitReason
	require.Equal(t, "WaitingForHigherPriorityJobs", r.Code, r.Message)
	var order []string
	for len(order) < 7 {
		msgs := fresh(t, w.next(2, time.Second))
		require.NotEmpty(t, msgs, "stalled after %v", order)
		for _, m := range msgs {
			w.report(m, exit(0))
		}
		order = append(order, jobsOf(t, msgs)...)
	}
	require.Equal(t, []string{"low", "low", "high", "high", "high", "low", "low"}, order)
}
