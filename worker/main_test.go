package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nats.go's async-publish reply handler leaves this goroutine parked
		// on a nil channel after its connection closes (nats.go v1.55.0).
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

const (
	account = "acct"
	poolID  = "Pool1"
	nodeID  = "tvmps_test1"
	wait    = 10 * time.Second
	tick    = 5 * time.Millisecond
)

// testBundle is an embedded server with natch's streams and buckets, a pool
// record, and every task event published on it.
type testBundle struct {
	srv  *server.Server
	opts *server.Options // of a restartable server
	nc   *nats.Conn
	js   jetstream.JetStream

	mu      sync.Mutex
	events  []protocol.TaskEvent // one per event, whether it came alone or in a batch
	batches int                  // batch messages (protocol.EventBatchHeader) seen
}

type bundleOpts struct {
	slots   int           // taskSlotsPerNode of the pool record (0: no pool record)
	ackWait time.Duration // of the pool consumer
	pack    bool          // a prioritized pool consumer (nodeFillType pack)
	// restartable: a file store the test may restart the server on (see
	// restartServer), and a connection that reconnects forever.
	restartable bool
}

func setup(t *testing.T, o bundleOpts) *testBundle {
	t.Helper()
	b := &testBundle{}
	if o.restartable {
		b.opts = &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
			StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
		b.srv = startServer(t, b.opts)
		b.opts.Port = b.srv.Addr().(*net.TCPAddr).Port
		nc, err := nats.Connect(b.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		b.nc, b.js = nc, js
	} else {
		b.srv = natstest.Server(t)
		b.nc, b.js = natstest.Connect(t, b.srv)
	}
	nc, js := b.nc, b.js
	ctx := t.Context()
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{Memory: !o.restartable}))
	if o.ackWait > 0 || o.pack {
		_, err := js.CreateOrUpdateConsumer(ctx, topology.TasksStream,
			topology.PoolConsumerConfig(account, batch.Key(poolID), o.ackWait, o.pack))
		require.NoError(t, err)
	}
	if o.slots > 0 {
		pools, err := js.KeyValue(ctx, topology.PoolsBucket)
		require.NoError(t, err)
		p := batch.Pool{ID: poolID, VMSize: "standard_a1", TaskSlotsPerNode: &o.slots}
		data, err := json.Marshal(p)
		require.NoError(t, err)
		_, err = pools.Put(ctx, topology.PoolKey(account, batch.Key(poolID)), data)
		require.NoError(t, err)
	}
	sub, err := nc.Subscribe("natch.events.>", func(m *nats.Msg) {
		if m.Header.Get(protocol.EventBatchHeader) != "" {
			var eb protocol.TaskEventBatch
			if json.Unmarshal(m.Data, &eb) == nil {
				b.mu.Lock()
				b.events = append(b.events, eb.Events...)
				b.batches++
				b.mu.Unlock()
			}
			return
		}
		var ev protocol.TaskEvent
		if json.Unmarshal(m.Data, &ev) == nil && m.Header.Get(jetstream.MsgIDHeader) == ev.MsgID() {
			b.mu.Lock()
			b.events = append(b.events, ev)
			b.mu.Unlock()
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, nc.Flush())
	return b
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// restartServer stops the server and starts it again on the same port and
// store.
func (b *testBundle) restartServer(t *testing.T) {
	t.Helper()
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	b.srv = startServer(t, b.opts)
}

// node is a running worker.
type node struct {
	w      *worker.Worker
	cfg    worker.Config
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the worker and returns what Run returned.
func (n *node) stop(t *testing.T) error {
	t.Helper()
	n.cancel()
	select {
	case err := <-n.done:
		n.done <- err
		return err
	case <-time.After(30 * time.Second):
		require.FailNow(t, "worker did not stop")
		return nil
	}
}

// start runs a worker (Slots 0 unless mod sets them) and waits for its
// node record to be idle.
func (b *testBundle) start(t *testing.T, mod func(*worker.Config)) *node {
	t.Helper()
	n := b.launch(t, nodeID, mod)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.State == batch.NodeIdle
	}, wait, tick)
	return n
}

// launch runs a worker with the given node id (Slots 0 unless mod sets
// them); the test's cleanup stops it.
func (b *testBundle) launch(t *testing.T, id string, mod func(*worker.Config)) *node {
	t.Helper()
	cfg := worker.Config{
		Account:        account,
		PoolID:         poolID,
		NodeID:         id,
		RootDir:        filepath.Join(t.TempDir(), "node"),
		AccountURL:     "http://127.0.0.1:8765",
		Heartbeat:      100 * time.Millisecond,
		ShutdownGrace:  2 * time.Second,
		RetentionSweep: 50 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := worker.New(b.nc, b.js, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{w: w, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- w.Run(ctx) }()
	t.Cleanup(func() { _ = n.stop(t) })
	return n
}

// record returns the node record.
func (b *testBundle) record(t *testing.T) (protocol.NodeRecord, bool) {
	t.Helper()
	kv, err := b.js.KeyValue(t.Context(), topology.NodesBucket)
	require.NoError(t, err)
	var rec protocol.NodeRecord
	e, err := kv.Get(t.Context(), topology.NodeKey(account, batch.Key(poolID), batch.Key(nodeID)))
	if err != nil {
		return rec, false
	}
	require.NoError(t, json.Unmarshal(e.Value(), &rec))
	return rec, true
}

// task is a task message for job "Job1".
func task(id, cmdline string) protocol.TaskMessage {
	return protocol.TaskMessage{Account: account, PoolID: poolID, JobID: "Job1",
		Task: batch.Task{ID: id, CommandLine: cmdline}}
}

func (b *testBundle) publish(t *testing.T, tms ...protocol.TaskMessage) {
	t.Helper()
	for _, tm := range tms {
		data, err := json.Marshal(tm)
		require.NoError(t, err)
		_, err = b.js.Publish(t.Context(),
			topology.TaskSubject(account, batch.Key(poolID), batch.Key(tm.JobID), batch.Key(tm.Task.ID)),
			data, jetstream.WithMsgID(tm.MsgID()))
		require.NoError(t, err)
	}
}

// event waits for an event of the given type about a task.
func (b *testBundle) event(t *testing.T, typ, taskID string) protocol.TaskEvent {
	t.Helper()
	var found protocol.TaskEvent
	require.Eventually(t, func() bool {
		var ok bool
		found, ok = b.findEvent(typ, taskID)
		return ok
	}, wait, tick, "no %s event for task %s", typ, taskID)
	return found
}

func (b *testBundle) findEvent(typ, taskID string) (protocol.TaskEvent, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range b.events {
		if ev.Type == typ && ev.TaskID == taskID {
			return ev, true
		}
	}
	return protocol.TaskEvent{}, false
}

// consumer returns the pool consumer's info.
func (b *testBundle) consumer(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := b.js.Consumer(t.Context(), topology.TasksStream, topology.PoolConsumer(account, batch.Key(poolID)))
	require.NoError(t, err)
	info, err := c.Info(t.Context())
	require.NoError(t, err)
	return info
}

// taskDir is where the worker of n runs a task of Job1.
func (n *node) taskDir(taskID string) string {
	return filepath.Join(n.cfg.RootDir, "workitems", "Job1", "job-1", taskID)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
