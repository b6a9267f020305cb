package worker_test

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// storedEvents reads the events stream: the completed events per task id,
// and the number of batch messages.
func (b *testBundle) storedEvents(t *testing.T) (map[string]int, int) {
	t.Helper()
	ctx := t.Context()
	completed := map[string]int{}
	s, err := b.js.Stream(ctx, topology.EventsStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	if info.State.Msgs == 0 {
		return completed, 0
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	batches := 0
	for range info.State.Msgs {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		var evs []protocol.TaskEvent
		if m.Headers().Get(protocol.EventBatchHeader) != "" {
			batches++
			var eb protocol.TaskEventBatch
			require.NoError(t, json.Unmarshal(m.Data(), &eb))
			require.Equal(t, topology.EventBatchSubject(account, "tvmps_test1"), m.Subject())
			evs = eb.Events
		} else {
			var ev protocol.TaskEvent
			require.NoError(t, json.Unmarshal(m.Data(), &ev))
			evs = []protocol.TaskEvent{ev}
		}
		for _, ev := range evs {
			if ev.Type == protocol.EventCompleted {
				completed[ev.TaskID]++
			}
		}
	}
	return completed, batches
}

// blockEvents makes the events stream refuse new messages at once (a full
// stream that discards new messages), and returns what undoes it.
func (b *testBundle) blockEvents(t *testing.T) func() {
	t.Helper()
	ctx := t.Context()
	s, err := b.js.Stream(ctx, topology.EventsStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	orig := info.Config
	// A stored message to be full with.
	_, err = b.js.Publish(ctx, topology.EventSubject(account, "filler", "filler"), []byte(`{"type":"filler"}`))
	require.NoError(t, err)
	info, err = s.Info(ctx)
	require.NoError(t, err)
	blocked := orig
	blocked.Discard, blocked.MaxMsgs = jetstream.DiscardNew, int64(info.State.Msgs)
	_, err = b.js.UpdateStream(ctx, blocked)
	require.NoError(t, err)
	return func() {
		t.Helper()
		_, err := b.js.UpdateStream(ctx, orig)
		require.NoError(t, err)
	}
}

// quickTasks publishes n tasks that run `true`, with ids prefix0, prefix1, …
func (b *testBundle) quickTasks(t *testing.T, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = prefix + strconv.Itoa(i)
		b.publish(t, task(ids[i], "true"))
	}
	return ids
}

func countLogs(t *testing.T, cfg *worker.Config, msg string) *atomic.Int32 {
	n := new(atomic.Int32)
	cfg.Logger = slog.New(countingHandler{slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}), msg, n})
	return n
}

func TestReportsAreBatched(t *testing.T) {
	b := setup(t, bundleOpts{slots: 2})
	b.start(t, func(c *worker.Config) { c.ReportLinger = 10 * time.Millisecond })
	const n = 120
	ids := b.quickTasks(t, "q", n)
	require.Eventually(t, func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream == n
	}, wait, tick)

	completed, batches := b.storedEvents(t)
	require.Len(t, completed, n)
	for _, id := range ids {
		require.Equal(t, 1, completed[id], "completions of %s", id)
	}
	require.Positive(t, batches)
	require.Less(t, batches, n, "one message per task: not batched")
	b.mu.Lock()
	require.Equal(t, batches, b.batches)
	b.mu.Unlock()
	for _, id := range ids {
		ev := b.event(t, protocol.EventCompleted, id)
		require.NotNil(t, ev.ExitCode)
		require.Equal(t, 0, *ev.ExitCode)
		require.Equal(t, nodeID, ev.NodeID)
	}
}

func TestReportRetriedUntilStored(t *testing.T) {
	b := setup(t, bundleOpts{slots: 2})
	var failures *atomic.Int32
	b.start(t, func(c *worker.Config) { failures = countLogs(t, c, "publish completion reports") })
	unblock := b.blockEvents(t)

	const n = 6
	ids := b.quickTasks(t, "r", n)
	// The tasks run, their reports fail, and no task is acked meanwhile.
	require.Eventually(t, func() bool { return failures.Load() >= 2 }, wait, tick)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.TotalTasksRun == n
	}, wait, tick)
	info := b.consumer(t)
	require.EqualValues(t, n, info.NumAckPending)
	require.Zero(t, info.AckFloor.Stream)

	unblock()
	require.Eventually(t, func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.AckFloor.Stream == n
	}, wait, tick)
	completed, _ := b.storedEvents(t)
	require.Len(t, completed, n)
	for _, id := range ids {
		require.Equal(t, 1, completed[id], "stored completions of %s", id)
	}
}

func TestStopFlushesLingeringReports(t *testing.T) {
	b := setup(t, bundleOpts{slots: 2})
	nd := b.start(t, func(c *worker.Config) {
		c.ReportLinger = time.Minute
		c.ShutdownGrace = 20 * time.Second
	})
	// Enough quick tasks for the reporter to see that reports come often
	// and start lingering: the first ones go out one by one.
	const n = 40
	ids := b.quickTasks(t, "s", n)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.TotalTasksRun == n
	}, wait, tick)
	start := time.Now()
	require.NoError(t, nd.stop(t))
	require.Less(t, time.Since(start), 5*time.Second, "the reporter waited for its linger")
	completed, batches := b.storedEvents(t)
	// The last ones lingered and left together when the worker stopped.
	require.Less(t, batches, n)
	for _, id := range ids {
		require.Equal(t, 1, completed[id], "stored completions of %s", id)
	}
	info := b.consumer(t)
	require.Zero(t, info.NumAckPending)
	require.EqualValues(t, n, info.AckFloor.Stream)
}

func TestStopWithUnstorableReports(t *testing.T) {
	b := setup(t, bundleOpts{slots: 2})
	var failures, notReported *atomic.Int32
	nd := b.start(t, func(c *worker.Config) {
		c.ShutdownGrace = 200 * time.Millisecond
		failures = countLogs(t, c, "publish completion reports")
		inner := c.Logger.Handler()
		notReported = new(atomic.Int32)
		c.Logger = slog.New(countingHandler{inner, "task result not reported; the task will be redelivered", notReported})
	})
	b.blockEvents(t)
	const n = 3
	b.quickTasks(t, "u", n)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.TotalTasksRun == n && failures.Load() >= 1
	}, wait, tick)

	start := time.Now()
	require.NoError(t, nd.stop(t))
	require.Less(t, time.Since(start), 10*time.Second, "the worker hung on its pending reports")
	require.EqualValues(t, n, notReported.Load())
	info := b.consumer(t)
	require.EqualValues(t, n, info.NumAckPending, "a task whose report was not stored was acked")
	require.Zero(t, info.AckFloor.Stream)
}

func TestReportLingerValidated(t *testing.T) {
	nc, js := natstest.Connect(t, natstest.Server(t))
	_, err := worker.New(nc, js, worker.Config{Account: account, PoolID: poolID, NodeID: nodeID,
		RootDir: t.TempDir(), ReportLinger: -time.Millisecond})
	require.ErrorContains(t, err, "negative")
}
