package worker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
	"github.com/natch-io/natch/worker/run"
)

// countingRunner runs processes and records how many ran at once.
type countingRunner struct {
	inner     *run.Runner
	now, most atomic.Int32
	started   atomic.Int32
}

func (r *countingRunner) Run(ctx context.Context, s run.Spec) run.Result {
	n := r.now.Add(1)
	for {
		m := r.most.Load()
		if n <= m || r.most.CompareAndSwap(m, n) {
			break
		}
	}
	r.started.Add(1)
	defer r.now.Add(-1)
	return r.inner.Run(ctx, s)
}

// startNode runs a worker with the given node id and waits until its
// record is idle (or running: it may find tasks at once).
func (b *testBundle) startNode(t *testing.T, id string, mod func(*worker.Config)) *node {
	t.Helper()
	n := b.launch(t, id, mod)
	kv, err := b.js.KeyValue(t.Context(), topology.NodesBucket)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		e, err := kv.Get(t.Context(), topology.NodeKey(account, batch.Key(poolID), batch.Key(id)))
		if err != nil {
			return false
		}
		var rec protocol.NodeRecord
		return json.Unmarshal(e.Value(), &rec) == nil && (rec.State == batch.NodeIdle || rec.State == batch.NodeRunning)
	}, wait, tick)
	return n
}

// publishAsync publishes task messages without waiting for each PubAck.
func (b *testBundle) publishAsync(t *testing.T, tms ...protocol.TaskMessage) {
	t.Helper()
	for _, tm := range tms {
		data, err := json.Marshal(tm)
		require.NoError(t, err)
		_, err = b.js.PublishAsync(
			topology.TaskSubject(account, batch.Key(poolID), batch.Key(tm.JobID), batch.Key(tm.Task.ID)),
			data, jetstream.WithMsgID(tm.MsgID()))
		require.NoError(t, err)
	}
	select {
	case <-b.js.PublishAsyncComplete():
	case <-time.After(wait):
		require.FailNow(t, "publish did not complete")
	}
}

// countPullRequests counts the pull requests sent for any consumer.
func countPullRequests(t *testing.T, b *testBundle) *atomic.Int64 {
	t.Helper()
	nc, _ := natstest.Connect(t, b.srv)
	var n atomic.Int64
	sub, err := nc.Subscribe("$JS.API.CONSUMER.MSG.NEXT.>", func(*nats.Msg) { n.Add(1) })
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	return &n
}

// nodeEvents counts the events of a type from a node ("": any node).
func (b *testBundle) nodeEvents(typ, nodeID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, ev := range b.events {
		if ev.Type == typ && (nodeID == "" || ev.NodeID == nodeID) {
			n++
		}
	}
	return n
}

// TestPrefetchBatchesShortTasks: a node running many tiny tasks from a
// backlog asks for several at a time, and still runs no more than its
// slots at once.
func TestPrefetchBatchesShortTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	r := &countingRunner{inner: run.New()}
	t.Cleanup(func() { _ = r.inner.Close() })
	b.startNode(t, "pf-1", func(c *worker.Config) {
		c.Runner = r
		c.PrefetchBelow = time.Second // generous: tasks under -race on a busy machine
	})
	reqs := countPullRequests(t, b)
	const n = 300
	tms := make([]protocol.TaskMessage, n)
	for i := range tms {
		tms[i] = task("t"+strconv.Itoa(i), "true")
	}
	b.publishAsync(t, tms...)
	require.Eventually(t, func() bool { return b.nodeEvents(protocol.EventCompleted, "") == n }, 60*time.Second, 20*time.Millisecond)
	got := reqs.Load()
	t.Logf("%d tasks, %d pull requests, at most %d at once", n, got, r.most.Load())
	require.LessOrEqual(t, got, int64(n/2), "pull requests carry several tasks")
	require.LessOrEqual(t, r.most.Load(), int32(2), "never more tasks at once than slots")
	require.Equal(t, int32(n), r.started.Load(), "every task ran once")
}

// TestNoPrefetchForLongTasks: a node whose tasks are long holds no more
// messages than it has slots, so a node that starts later gets the rest.
func TestNoPrefetchForLongTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	b.startNode(t, "pf-a", func(c *worker.Config) { c.PrefetchBelow = 10 * time.Millisecond })
	// Warm up: the node learns that its tasks are long.
	b.publishAsync(t, task("w0", "sleep 0.3"), task("w1", "sleep 0.3"))
	b.event(t, protocol.EventCompleted, "w0")
	b.event(t, protocol.EventCompleted, "w1")

	var tms []protocol.TaskMessage
	for i := range 8 {
		tms = append(tms, task("l"+strconv.Itoa(i), "sleep 1"))
	}
	b.publishAsync(t, tms...)
	require.Eventually(t, func() bool { return b.nodeEvents(protocol.EventRunning, "pf-a") == 4 }, wait, tick)
	// Both slots busy for a second: the node holds two, six wait in the
	// stream.
	c := b.consumer(t)
	require.Equal(t, 2, c.NumAckPending, "the node holds no more than its slots")
	require.Equal(t, uint64(6), c.NumPending)
	b.startNode(t, "pf-b", nil)
	require.Eventually(t, func() bool { return b.nodeEvents(protocol.EventCompleted, "") == 10 }, 20*time.Second, tick)
	require.GreaterOrEqual(t, b.nodeEvents(protocol.EventCompleted, "pf-b"), 2, "the later node got queued tasks")
}

// prefetched starts a 2-slot node that has learnt that its tasks are
// short, then gives it two blockers (sleep) and four tiny tasks: the first
// two tiny ones at least wait on the node for a slot. It returns the ids of
// the blockers and of the tiny tasks.
func prefetched(t *testing.T, b *testBundle) (*node, []string, []string) {
	t.Helper()
	n := b.startNode(t, nodeID, func(c *worker.Config) {
		c.PrefetchBelow, c.Prefetch, c.ShutdownGrace = time.Second, 4, 10*time.Second
	})
	b.publishAsync(t, task("w0", "true"), task("w1", "true"), task("w2", "true"))
	for _, w := range []string{"w0", "w1", "w2"} {
		b.event(t, protocol.EventCompleted, w)
	}
	// The blockers take both slots (for 4 s: long enough that a busy
	// machine does not free a slot before the test acts); the tiny task
	// behind them tells the
	// node that the pool has a backlog, so its next request asks for four
	// more, and that request brings the other tiny tasks when they come.
	blockers := []string{"b0", "b1"}
	tiny := []string{"q0", "q1", "q2", "q3"}
	b.publishAsync(t, task("b0", "sleep 4"), task("b1", "sleep 4"), task("q0", "true"))
	b.event(t, protocol.EventRunning, "b0")
	b.event(t, protocol.EventRunning, "b1")
	b.publishAsync(t, task("q1", "true"), task("q2", "true"), task("q3", "true"))
	// Whether the last two come in the same request depends on timing: a
	// node with tasks queued asks again only once half its capacity is
	// free. q0 and q1 are delivered in order, so they are held.
	require.Eventually(t, func() bool { return b.consumer(t).NumAckPending >= 4 }, wait, tick,
		"two running and at least two prefetched")
	for _, q := range tiny {
		_, ok := b.findEvent(protocol.EventCompleted, q)
		require.False(t, ok, "%s waits for a slot", q)
	}
	return n, blockers, tiny
}

// TestPrefetchedTasksAreGivenBack: when scheduling is disabled or the node
// stops, the tasks that wait for a slot go back at once (without an
// event): another node runs them while the first one's tasks still run.
// None is lost.
func TestPrefetchedTasksAreGivenBack(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"SchedulingDisabled", "Shutdown"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, bundleOpts{slots: 2})
			n, blockers, tiny := prefetched(t, b)
			if name == "Shutdown" {
				n.cancel()
			} else {
				code, msg := b.command(t, protocol.CmdScheduling, protocol.SchedulingRequest{Option: protocol.OptionTaskCompletion})
				require.Empty(t, code, string(msg))
			}
			b.startNode(t, "other", nil)
			for i, id := range tiny {
				ev := b.event(t, protocol.EventCompleted, id)
				require.Equal(t, "other", ev.NodeID)
				if i < 2 {
					require.GreaterOrEqual(t, ev.Delivery, 2, "%s was given back", id)
				}
				_, requeued := b.findEvent(protocol.EventRequeued, id)
				require.False(t, requeued, "a task that never ran has no requeued event")
			}
			for _, id := range blockers {
				_, done := b.findEvent(protocol.EventCompleted, id)
				require.False(t, done, "%s still runs: the others went back at once", id)
			}
			for _, id := range blockers {
				ev := b.event(t, protocol.EventCompleted, id) // within the grace
				require.Equal(t, nodeID, ev.NodeID)
			}
			if name == "Shutdown" {
				require.NoError(t, n.stop(t))
			}
		})
	}
}

// TestTerminatePrefetchedTask: a terminated task that waits for a slot
// ends as terminated without running.
func TestTerminatePrefetchedTask(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	n, _, tiny := prefetched(t, b)
	data, err := json.Marshal(protocol.TerminateTask{JobID: "Job1", TaskID: tiny[1]})
	require.NoError(t, err)
	reply, err := b.nc.Request(topology.NodeSubject(account, batch.Key(nodeID), protocol.CmdTerminateTask), data, wait)
	require.NoError(t, err)
	require.Empty(t, reply.Header.Get(protocol.ErrorHeader))

	ev := b.event(t, protocol.EventCompleted, tiny[1])
	require.NotNil(t, ev.FailureInfo)
	require.Equal(t, protocol.CodeTaskEnded, ev.FailureInfo.Code)
	_, ran := b.findEvent(protocol.EventRunning, tiny[1])
	require.False(t, ran)
	_, err = os.Stat(filepath.Join(n.cfg.RootDir, "workitems", "Job1", "job-1", tiny[1], "stdout.txt"))
	require.ErrorIs(t, err, os.ErrNotExist, "the terminated task did not run")
	for _, id := range []string{tiny[0], tiny[2], tiny[3]} {
		b.event(t, protocol.EventCompleted, id)
	}
}

// TestManySlotsNeverOverflowPullReplies: a node with many slots asks for
// no more messages at once than its client can buffer, so none is dropped
// and nothing stalls until AckWait.
func TestManySlotsNeverOverflowPullReplies(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 64})
	b.startNode(t, "wide", func(c *worker.Config) { c.PrefetchBelow = time.Second })
	const n = 400
	tms := make([]protocol.TaskMessage, n)
	for i := range tms {
		tms[i] = task("m"+strconv.Itoa(i), "true")
	}
	b.publishAsync(t, tms...)
	require.Eventually(t, func() bool { return b.nodeEvents(protocol.EventCompleted, "") == n }, 25*time.Second, 20*time.Millisecond,
		"every task ran without waiting for a dropped delivery to be redelivered")
}
