package scaler_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

const (
	account = "acct"
	wait    = 15 * time.Second
	poll    = 20 * time.Millisecond
)

type testBundle struct {
	js    jetstream.JetStream
	pools jetstream.KeyValue
	nodes jetstream.KeyValue
	prov  *fakeProvider
}

func setup(t *testing.T, register bool) *testBundle {
	t.Helper()
	js := natstest.Run(t)
	ctx := t.Context()
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{Memory: true}))
	pools, err := js.KeyValue(ctx, topology.PoolsBucket)
	require.NoError(t, err)
	nodes, err := js.KeyValue(ctx, topology.NodesBucket)
	require.NoError(t, err)
	return &testBundle{js: js, pools: pools, nodes: nodes, prov: newFakeProvider(t, nodes, register)}
}

// testConfig is fast: the fake nodes heartbeat every 50ms. The log shows
// with a failed test's output.
func testConfig(t *testing.T, p scaler.Provider) scaler.Config {
	return scaler.Config{Provider: p, Interval: 50 * time.Millisecond, OfflineAfter: time.Second,
		OfflineRetention: time.Second, StartTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// run runs a scaler until the returned stop is called or the test ends.
func (b *testBundle) run(t *testing.T, cfg scaler.Config) (stop func()) {
	t.Helper()
	s, err := scaler.New(b.js, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("scaler: %v", err)
		}
	})
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return stop
}

func (b *testBundle) addPool(t *testing.T, id string, dedicated, low int) {
	t.Helper()
	ctx := t.Context()
	now := batch.At(time.Now())
	p := batch.Pool{ID: id, VMSize: "standard_d2s_v3", State: batch.PoolActive, AllocationState: batch.AllocResizing,
		TargetDedicatedNodes: batch.Int(dedicated), TargetLowPriorityNodes: batch.Int(low),
		CurrentDedicatedNodes: batch.Int(0), CurrentLowPriorityNodes: batch.Int(0), TaskSlotsPerNode: batch.Int(2),
		ETag: "0x1", LastModified: now, AllocationStateTransitionTime: now}
	_, err := topology.EnsurePoolConsumer(ctx, b.js, account, batch.Key(id), 0, false)
	require.NoError(t, err)
	raw, err := json.Marshal(&p)
	require.NoError(t, err)
	_, err = b.pools.Create(ctx, topology.PoolKey(account, batch.Key(id)), raw)
	require.NoError(t, err)
}

// pool reads a pool record; nil when it is gone.
func (b *testBundle) pool(t *testing.T, id string) *batch.Pool {
	t.Helper()
	e, err := b.pools.Get(t.Context(), topology.PoolKey(account, batch.Key(id)))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	require.NoError(t, err)
	var p batch.Pool
	require.NoError(t, json.Unmarshal(e.Value(), &p))
	return &p
}

// changePool updates a pool as the dispatcher does: compare-and-set.
func (b *testBundle) changePool(t *testing.T, id string, mutate func(*batch.Pool)) {
	t.Helper()
	key := topology.PoolKey(account, batch.Key(id))
	require.Eventually(t, func() bool {
		e, err := b.pools.Get(t.Context(), key)
		require.NoError(t, err)
		var p batch.Pool
		require.NoError(t, json.Unmarshal(e.Value(), &p))
		mutate(&p)
		raw, err := json.Marshal(&p)
		require.NoError(t, err)
		_, err = b.pools.Update(t.Context(), key, raw, e.Revision())
		return err == nil
	}, wait, poll)
}

// records reads the node records of a pool.
func (b *testBundle) records(t *testing.T, pool string) map[string]protocol.NodeRecord {
	t.Helper()
	out := make(map[string]protocol.NodeRecord)
	lister, err := b.nodes.ListKeysFiltered(t.Context(), topology.PoolNodeKeys(account, batch.Key(pool)))
	require.NoError(t, err)
	for k := range lister.Keys() {
		e, err := b.nodes.Get(t.Context(), k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		require.NoError(t, err)
		var r protocol.NodeRecord
		require.NoError(t, json.Unmarshal(e.Value(), &r))
		out[r.ID] = r
	}
	return out
}

// steadyAt reports whether a pool shows the counts and steady.
func (b *testBundle) steadyAt(t *testing.T, id string, dedicated, low int) func() bool {
	return func() bool {
		p := b.pool(t, id)
		return p != nil && p.AllocationState == batch.AllocSteady &&
			batch.IntOr(p.CurrentDedicatedNodes, -1) == dedicated && batch.IntOr(p.CurrentLowPriorityNodes, -1) == low &&
			len(b.prov.alive()) == dedicated+low && len(b.records(t, id)) == dedicated+low
	}
}

func TestScalerResizesPool(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.addPool(t, "Pool1", 2, 1)
	b.run(t, testConfig(t, b.prov))

	require.Eventually(t, b.steadyAt(t, "Pool1", 2, 1), wait, poll)
	p := b.pool(t, "Pool1")
	require.NotEqual(t, "0x1", p.ETag, "a changed pool gets a new eTag")
	var dedicated int
	for _, s := range b.prov.alive() {
		require.Equal(t, scaler.NodeSpec{Account: account, PoolID: "Pool1", NodeID: s.NodeID, Dedicated: s.Dedicated,
			VMSize: "standard_d2s_v3", Slots: 2}, s)
		if s.Dedicated {
			dedicated++
		}
	}
	require.Equal(t, 2, dedicated)
	for _, r := range b.records(t, "Pool1") {
		require.Equal(t, r.IsDedicated, r.ID[len(r.ID)-2:] == "_d", "node id %s", r.ID)
	}

	// Steady: the scaler writes nothing more.
	rev := func() uint64 {
		e, err := b.pools.Get(t.Context(), topology.PoolKey(account, "pool1"))
		require.NoError(t, err)
		return e.Revision()
	}
	before := rev()
	require.Never(t, func() bool { return rev() != before }, 300*time.Millisecond, poll)

	b.changePool(t, "Pool1", func(p *batch.Pool) {
		p.TargetDedicatedNodes, p.TargetLowPriorityNodes, p.AllocationState = batch.Int(1), batch.Int(0), batch.AllocResizing
	})
	require.Eventually(t, b.steadyAt(t, "Pool1", 1, 0), wait, poll)

	b.changePool(t, "Pool1", func(p *batch.Pool) {
		p.TargetDedicatedNodes, p.AllocationState = batch.Int(3), batch.AllocResizing
	})
	require.Eventually(t, b.steadyAt(t, "Pool1", 3, 0), wait, poll)
}

func TestScalerScaleInPrefersIdleNodes(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.addPool(t, "p", 2, 0)
	b.run(t, testConfig(t, b.prov))
	require.Eventually(t, b.steadyAt(t, "p", 2, 0), wait, poll)

	// One node runs a task (as its worker would report it).
	busy := b.prov.alive()[0].NodeID
	key := topology.NodeKey(account, "p", busy)
	require.Eventually(t, func() bool {
		e, err := b.nodes.Get(t.Context(), key)
		require.NoError(t, err)
		var r protocol.NodeRecord
		require.NoError(t, json.Unmarshal(e.Value(), &r))
		r.State, r.RunningTasksCount, r.RunningTasks = batch.NodeRunning, 1, []string{"job/task"}
		raw, err := json.Marshal(&r)
		require.NoError(t, err)
		_, err = b.nodes.Update(t.Context(), key, raw, e.Revision())
		return err == nil
	}, wait, poll)
	require.Eventually(t, func() bool { return b.records(t, "p")[busy].State == batch.NodeRunning }, wait, poll)

	b.changePool(t, "p", func(p *batch.Pool) { p.TargetDedicatedNodes, p.AllocationState = batch.Int(1), batch.AllocResizing })
	require.Eventually(t, b.steadyAt(t, "p", 1, 0), wait, poll)
	require.Equal(t, busy, b.prov.alive()[0].NodeID, "the idle node leaves, the running one stays")
}

func TestScalerReplacesSilentNodes(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.addPool(t, "p", 1, 0)
	b.run(t, testConfig(t, b.prov))
	require.Eventually(t, b.steadyAt(t, "p", 1, 0), wait, poll)

	// A node that dies without a word goes offline and is replaced.
	dead := b.prov.alive()[0].NodeID
	b.prov.kill(dead)
	require.Eventually(t, func() bool {
		r, ok := b.records(t, "p")[dead]
		return ok && r.State == batch.NodeOffline && r.StateTransitionTime != nil
	}, wait, poll)
	var second string
	require.Eventually(t, func() bool {
		alive := b.prov.alive()
		if len(alive) != 1 {
			return false
		}
		second = alive[0].NodeID
		p := b.pool(t, "p")
		return second != dead && batch.IntOr(p.CurrentDedicatedNodes, 0) == 1 && p.AllocationState == batch.AllocSteady
	}, wait, poll)
	// Its offline record goes after OfflineRetention.
	require.Eventually(t, func() bool { _, ok := b.records(t, "p")[dead]; return !ok }, wait, poll)

	// A node that hangs (process up, no heartbeat) counts while it may
	// recover, then is stopped and replaced.
	b.prov.hang(second)
	require.Eventually(t, func() bool { return b.records(t, "p")[second].State == batch.NodeOffline }, wait, poll)
	require.Eventually(t, func() bool { return b.prov.stopped(second) }, wait, poll)
	require.Eventually(t, b.steadyAt(t, "p", 1, 0), wait, poll)
	require.GreaterOrEqual(t, b.prov.started(), 3)
}

func TestScalerReplacesNodesThatNeverRegister(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.addPool(t, "p", 1, 0)
	cfg := testConfig(t, b.prov)
	cfg.StartTimeout = 300 * time.Millisecond
	b.run(t, cfg)

	require.Eventually(t, func() bool { return b.prov.started() >= 3 }, wait, poll)
	first := func() string { b.prov.mu.Lock(); defer b.prov.mu.Unlock(); return b.prov.starts[0].NodeID }()
	require.True(t, b.prov.stopped(first))
	require.Len(t, b.prov.alive(), 1, "one node at a time")
	p := b.pool(t, "p")
	require.Equal(t, batch.AllocResizing, p.AllocationState)
	require.Equal(t, 0, batch.IntOr(p.CurrentDedicatedNodes, -1))
}

func TestScalerStopResize(t *testing.T) {
	t.Parallel()
	b := setup(t, false)
	b.addPool(t, "p", 3, 0)
	b.run(t, testConfig(t, b.prov))
	require.Eventually(t, func() bool { return len(b.prov.alive()) == 3 }, wait, poll)

	b.changePool(t, "p", func(p *batch.Pool) { p.AllocationState = batch.AllocStopping })
	require.Eventually(t, func() bool {
		p := b.pool(t, "p")
		return p.AllocationState == batch.AllocSteady && len(p.ResizeErrors) == 1
	}, wait, poll)
	p := b.pool(t, "p")
	require.Equal(t, "ResizeStopped", p.ResizeErrors[0].Code)
	require.Equal(t, 0, batch.IntOr(p.TargetDedicatedNodes, -1))
	require.Empty(t, b.prov.alive(), "pending starts are cancelled")
}

func TestScalerDeletesPool(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	b.addPool(t, "Doomed", 2, 1)
	b.run(t, testConfig(t, b.prov))
	require.Eventually(t, b.steadyAt(t, "Doomed", 2, 1), wait, poll)

	b.changePool(t, "Doomed", func(p *batch.Pool) { p.State = batch.PoolDeleting })
	require.Eventually(t, func() bool { return b.pool(t, "Doomed") == nil }, wait, poll)
	require.Empty(t, b.prov.alive())
	require.Empty(t, b.records(t, "Doomed"))
	_, err := b.js.Consumer(t.Context(), topology.TasksStream, topology.PoolConsumer(account, "doomed"))
	require.ErrorIs(t, err, jetstream.ErrConsumerNotFound)
}

func TestScalerRemovesNodesOfMissingPools(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	rec := protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: "stray", State: batch.NodeIdle, IsDedicated: true},
		Account: account, PoolID: "gone", Heartbeat: time.Now()}
	raw, err := json.Marshal(&rec)
	require.NoError(t, err)
	_, err = b.nodes.Create(t.Context(), topology.NodeKey(account, "gone", "stray"), raw)
	require.NoError(t, err)
	b.run(t, testConfig(t, b.prov))
	require.Eventually(t, func() bool { return len(b.records(t, "gone")) == 0 }, wait, poll)
	require.True(t, b.prov.stopped("stray"))
}

func TestScalerLease(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	first := b.prov
	second := newFakeProvider(t, b.nodes, true)
	b.addPool(t, "p", 2, 0)
	stopFirst := b.run(t, testConfig(t, first))
	require.Eventually(t, b.steadyAt(t, "p", 2, 0), wait, poll)

	b.run(t, testConfig(t, second))
	b.changePool(t, "p", func(p *batch.Pool) { p.TargetDedicatedNodes, p.AllocationState = batch.Int(3), batch.AllocResizing })
	require.Eventually(t, b.steadyAt(t, "p", 3, 0), wait, poll)
	require.Zero(t, second.started(), "the second scaler waits for the lease")

	// The first scaler stops (releasing its lease) and its nodes go: the
	// second takes over and brings the pool back to its target.
	stopFirst()
	first.close()
	require.Eventually(t, func() bool { return len(second.alive()) == 3 }, wait, poll)
	b.prov = second
	require.Eventually(t, b.steadyAt(t, "p", 3, 0), wait, poll)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	js := natstest.Run(t)
	_, err := scaler.New(js, scaler.Config{})
	require.ErrorContains(t, err, "Provider is required")
	_, err = scaler.New(js, scaler.Config{Provider: &fakeProvider{}, Interval: time.Second, LeaseTTL: time.Second})
	require.ErrorContains(t, err, "LeaseTTL")
}

func TestRunWaitsForBuckets(t *testing.T) {
	t.Parallel()
	js := natstest.Run(t)
	prov := newFakeProvider(t, nil, false) // its nodes never register

	s, err := scaler.New(js, testConfig(t, prov))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.NoError(t, topology.Ensure(t.Context(), js, topology.Options{Memory: true}))
	pools, err := js.KeyValue(t.Context(), topology.PoolsBucket)
	require.NoError(t, err)
	p := batch.Pool{ID: "p", State: batch.PoolActive, TargetDedicatedNodes: batch.Int(1)}
	raw, err := json.Marshal(&p)
	require.NoError(t, err)
	_, err = pools.Create(t.Context(), topology.PoolKey(account, "p"), raw)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return prov.started() == 1 }, wait, poll)
	cancel()
	require.NoError(t, <-done)
}

func TestScalerTakesOverAnExpiredLease(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	leases, err := b.js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: scaler.LeasesBucket,
		TTL: 700 * time.Millisecond, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	_, err = leases.Create(t.Context(), scaler.LeaseKey(account), []byte("crashed-scaler"))
	require.NoError(t, err)
	b.addPool(t, "p", 1, 0)
	start := time.Now()
	b.run(t, testConfig(t, b.prov))
	require.Eventually(t, b.steadyAt(t, "p", 1, 0), wait, poll)
	require.Greater(t, time.Since(start), 500*time.Millisecond, "the crashed holder's lease had to expire first")
	e, err := leases.Get(t.Context(), scaler.LeaseKey(account))
	require.NoError(t, err)
	require.Contains(t, string(e.Value()), "scaler-")
}

func TestScalerTakesBackItsOwnLease(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	leases, err := b.js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: scaler.LeasesBucket,
		TTL: time.Hour, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	_, err = leases.Create(t.Context(), scaler.LeaseKey(account), []byte("up@host:/data"))
	require.NoError(t, err)
	b.addPool(t, "p", 1, 0)
	cfg := testConfig(t, b.prov)
	cfg.Holder = "up@host:/data" // the same scaler, restarted after a crash
	b.run(t, cfg)
	require.Eventually(t, b.steadyAt(t, "p", 1, 0), wait, poll)
}
