package dispatcher_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// reportBatch publishes the completions of pulled tasks as one batch
// message, as a worker does, and acks the tasks.
func (w *fakeWorker) reportBatch(msgs []jetstream.Msg, exits []int, msgID string) {
	var b protocol.TaskEventBatch
	for i, m := range msgs {
		tm := taskOf(w.t, m)
		meta, err := m.Metadata()
		require.NoError(w.t, err)
		now := time.Now()
		ev := protocol.TaskEvent{Type: protocol.EventCompleted, Account: account, JobID: tm.JobID, TaskID: tm.Task.ID,
			PoolID: tm.PoolID, NodeID: "node1", Attempt: tm.Attempt, Delivery: int(meta.NumDelivered),
			StartTime: now, EndTime: now, ExitCode: &exits[i]}
		if exits[i] != 0 {
			ev.FailureInfo = &batch.TaskFailureInformation{Category: "usererror", Code: "FailureExitCode"}
		}
		b.Events = append(b.Events, ev)
	}
	data, err := json.Marshal(b)
	require.NoError(w.t, err)
	m := nats.NewMsg(topology.EventBatchSubject(account, "node1"))
	m.Header.Set(protocol.EventBatchHeader, "1")
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	m.Data = data
	_, err = w.b.js.PublishMsg(context.Background(), m)
	require.NoError(w.t, err)
	for _, m := range msgs {
		require.NoError(w.t, m.Ack())
	}
}

func TestBatchedEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code, string(body))
	w := newFakeWorker(t, b, "pool1")
	for _, id := range []string{"a", "b", "c"} {
		b.addTask(t, "job1", map[string]any{"id": id, "commandLine": "true",
			"constraints": map[string]any{"maxTaskRetryCount": 1}})
	}
	msgs := w.next(3, 2*time.Second)
	require.Equal(t, []string{"a", "b", "c"}, ids(t, msgs))
	byID := map[string]jetstream.Msg{}
	for _, m := range msgs {
		byID[taskOf(t, m).Task.ID] = m
	}

	// One message: a and b succeed, c fails and is retried.
	w.reportBatch([]jetstream.Msg{byID["a"], byID["b"], byID["c"]}, []int{0, 0, 3}, "batch-1")
	require.Equal(t, "success", b.waitTaskState(t, "job1", "a", "completed").ExecutionInfo.Result)
	require.Equal(t, "success", b.waitTaskState(t, "job1", "b", "completed").ExecutionInfo.Result)
	retry := w.next(1, 5*time.Second)
	require.Equal(t, []string{"c"}, ids(t, retry), "the failed task of the batch is retried")
	require.Equal(t, 1, b.task(t, "job1", "c").ExecutionInfo.RetryCount)

	// The retry's batch completes it; a batch with a malformed event is
	// dropped whole and changes nothing.
	bad := nats.NewMsg(topology.EventBatchSubject(account, "node1"))
	bad.Header.Set(protocol.EventBatchHeader, "1")
	bad.Data = []byte(`{"events":[{"type":"completed","account":"` + account + `","jobId":"job1"}]}`)
	_, err := b.js.PublishMsg(context.Background(), bad)
	require.NoError(t, err)
	w.reportBatch(retry, []int{0}, "batch-2")
	c := b.waitTaskState(t, "job1", "c", "completed")
	require.Equal(t, "success", c.ExecutionInfo.Result)
	require.Equal(t, 1, c.ExecutionInfo.RetryCount)
	require.Eventually(t, func() bool {
		_, body := b.do(t, "GET", "/jobs/job1/taskcounts", nil)
		var tc batch.TaskCountsResult
		require.NoError(t, json.Unmarshal(body, &tc))
		return tc.TaskCounts.Completed == 3 && tc.TaskCounts.Succeeded == 3
	}, 10*time.Second, 20*time.Millisecond)
	cons, err := b.js.Consumer(context.Background(), topology.EventsStream, topology.EventsConsumer)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(context.Background())
		require.NoError(t, err)
		return info.NumPending == 0 && info.NumAckPending == 0
	}, 10*time.Second, 20*time.Millisecond, "every event message is acked or dropped")
}
