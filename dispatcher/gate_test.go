package dispatcher_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// fresh drops redeliveries (a message this test holds longer than the 2 s
// ack wait comes again): only first deliveries are releases.
func fresh(t *testing.T, msgs []jetstream.Msg) []jetstream.Msg {
	var out []jetstream.Msg
	for _, m := range msgs {
		meta, err := m.Metadata()
		require.NoError(t, err)
		if meta.NumDelivered == 1 {
			out = append(out, m)
		}
	}
	return out
}

func TestMaxParallelTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	w := newFakeWorker(t, b, "pool1")
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"},
		"maxParallelTasks": 2})
	require.Equal(t, 201, code, string(body))
	var tasks []map[string]any
	for i := range 10 {
		tasks = append(tasks, map[string]any{"id": "t" + strconv.Itoa(i), "commandLine": "true"})
	}
	code, body = b.do(t, "POST", "/jobs/job1/addtaskcollection", map[string]any{"value": tasks})
	require.Equal(t, 200, code, string(body))

	first := fresh(t, w.next(10, time.Second))
	require.Equal(t, []string{"t0", "t1"}, ids(t, first), "two at a time, oldest first")
	w.report(first[0], nil) // running
	require.Empty(t, fresh(t, w.next(1, 300*time.Millisecond)), "queued and running tasks both count")
	r := b.task(t, "job1", "t5").WaitReason
	require.Equal(t, "MaxParallelTasksReached", r.Code)

	// One ends: exactly one more is released.
	w.report(first[0], exit(0))
	next := fresh(t, w.next(10, time.Second))
	require.Equal(t, []string{"t2"}, ids(t, next))

	// A held task that is terminated never runs; one that is deleted neither.
	code, _ = b.do(t, "POST", "/jobs/job1/tasks/t3/terminate", nil)
	require.Equal(t, 204, code)
	code, _ = b.do(t, "DELETE", "/jobs/job1/tasks/t4", nil)
	require.Equal(t, 200, code)

	seen := map[string]bool{"t0": true}
	pending := append(first[1:], next...)
	for len(pending) > 0 {
		for _, m := range pending {
			id := taskOf(t, m).Task.ID
			require.False(t, seen[id], "task %s released twice", id)
			seen[id] = true
			w.report(m, exit(0))
		}
		pending = fresh(t, w.next(10, time.Second))
		require.LessOrEqual(t, len(pending), 2, "never more than maxParallelTasks at once")
	}
	require.Len(t, seen, 8, "every task but the terminated and the deleted one ran: %v", seen)
	require.False(t, seen["t3"] || seen["t4"])
	require.Eventually(t, func() bool { return b.task(t, "job1", "t9").State == "completed" }, 5*time.Second, 20*time.Millisecond)
}

func TestMaxParallelTasksLiftedByPatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	w := newFakeWorker(t, b, "pool1")
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"},
		"maxParallelTasks": 1})
	require.Equal(t, 201, code, string(body))
	for i := range 5 {
		b.addTask(t, "job1", map[string]any{"id": "t" + strconv.Itoa(i), "commandLine": "true"})
	}
	require.Len(t, fresh(t, w.next(5, time.Second)), 1)
	code, body = b.do(t, "PATCH", "/jobs/job1", map[string]any{"maxParallelTasks": -1})
	require.Equal(t, 200, code, string(body))
	require.Len(t, fresh(t, w.next(5, time.Second)), 4, "without the limit every held task is released")
}
