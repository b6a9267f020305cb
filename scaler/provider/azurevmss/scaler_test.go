package azurevmss_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
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

// vmAgent plays `natch worker` on the fake's VMs: each VM registers under
// its computer name and heartbeats until its instance is deleted or its
// record is set to leavingpool (then it deletes the record and stops, as
// the worker does).
type vmAgent struct {
	arm   *fakeARM
	nodes jetstream.KeyValue
	wg    sync.WaitGroup
	quit  chan struct{}
}

func (a *vmAgent) boot(set string, id int) {
	a.wg.Go(func() { a.run(set, id) })
}

func (a *vmAgent) run(set string, id int) {
	name := computerName(id)
	key := topology.NodeKey("acct", "pool1", name)
	rec := protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: name, State: batch.NodeIdle, IsDedicated: true,
		VMSize: "standard_d2s_v5"}, Account: "acct", PoolID: "pool1", Heartbeat: time.Now(), Slots: 1}
	ctx := context.Background()
	put := func() {
		b, _ := json.Marshal(&rec)
		_, _ = a.nodes.Put(ctx, key, b)
	}
	put()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-a.quit:
			return
		case <-t.C:
		}
		if !slices.Contains(a.arm.instances(set), id) {
			return // the VM is gone
		}
		e, err := a.nodes.Get(ctx, key)
		if err != nil {
			continue
		}
		var cur protocol.NodeRecord
		if json.Unmarshal(e.Value(), &cur) == nil && cur.State == batch.NodeLeaving {
			_ = a.nodes.Delete(ctx, key)
			return // the worker exits; the VM waits for the scaler to delete it
		}
		rec.Heartbeat = time.Now()
		put()
	}
}

// TestScalerWithScaleSet runs the scaler with the azure-vmss provider
// against the fake Resource Manager: a pool of 3 gets one capacity update
// of 0 → 3, the VMs register under their computer names and take the
// starts' places (nothing is replaced), and a resize to 1 deletes two
// instances by id without lowering the capacity by an update.
func TestScalerWithScaleSet(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]int{"natch-pool1": 0})
	js := natstest.Run(t)
	ctx := t.Context()
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{Memory: true}))
	pools, err := js.KeyValue(ctx, topology.PoolsBucket)
	require.NoError(t, err)
	nodes, err := js.KeyValue(ctx, topology.NodesBucket)
	require.NoError(t, err)
	agent := &vmAgent{arm: b.arm, nodes: nodes, quit: make(chan struct{})}
	t.Cleanup(func() { close(agent.quit); agent.wg.Wait() })
	b.arm.mu.Lock()
	b.arm.booted = agent.boot
	b.arm.mu.Unlock()

	now := batch.At(time.Now())
	pool := batch.Pool{ID: "pool1", VMSize: "standard_d2s_v5", State: batch.PoolActive, AllocationState: batch.AllocResizing,
		TargetDedicatedNodes: batch.Int(3), TargetLowPriorityNodes: batch.Int(0), TaskSlotsPerNode: batch.Int(1),
		ETag: "0x1", LastModified: now, AllocationStateTransitionTime: now}
	raw, err := json.Marshal(&pool)
	require.NoError(t, err)
	_, err = pools.Create(ctx, topology.PoolKey("acct", "pool1"), raw)
	require.NoError(t, err)

	s, err := scaler.New(js, scaler.Config{Provider: b.prov, Interval: 50 * time.Millisecond, OfflineAfter: 2 * time.Second,
		StartTimeout: time.Minute, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	require.NoError(t, err)
	sctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, s.Run(sctx)) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	readPool := func() batch.Pool {
		e, err := pools.Get(ctx, topology.PoolKey("acct", "pool1"))
		require.NoError(t, err)
		var p batch.Pool
		require.NoError(t, json.Unmarshal(e.Value(), &p))
		return p
	}
	steadyAt := func(n int) func() bool {
		return func() bool {
			p := readPool()
			return p.AllocationState == batch.AllocSteady && batch.IntOr(p.CurrentDedicatedNodes, -1) == n &&
				len(b.arm.instances("natch-pool1")) == n
		}
	}
	require.Eventually(t, steadyAt(3), wait, poll)
	patches := b.arm.requests("PATCH", "/natch-pool1")
	require.Len(t, patches, 1, "three starts, one capacity update")
	require.JSONEq(t, `{"sku":{"capacity":3}}`, patches[0].Body)
	keys, err := nodes.Keys(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"acct.pool1." + computerName(0), "acct.pool1." + computerName(1),
		"acct.pool1." + computerName(2)}, keys)

	// Scale in to 1: two instances deleted by id, never a capacity decrease.
	e, err := pools.Get(ctx, topology.PoolKey("acct", "pool1"))
	require.NoError(t, err)
	p := readPool()
	p.TargetDedicatedNodes, p.AllocationState = batch.Int(1), batch.AllocResizing
	raw, err = json.Marshal(&p)
	require.NoError(t, err)
	_, err = pools.Update(ctx, topology.PoolKey("acct", "pool1"), raw, e.Revision())
	require.NoError(t, err)
	require.Eventually(t, steadyAt(1), wait, poll)
	var deleted []string
	for _, r := range b.arm.requests("POST", "/natch-pool1/delete") {
		var body struct {
			InstanceIDs []string `json:"instanceIds"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Body), &body))
		deleted = append(deleted, body.InstanceIDs...)
	}
	require.Len(t, deleted, 2)
	require.Len(t, b.arm.requests("PATCH", ""), 1, "no capacity update after the first")
	require.Never(t, func() bool { return len(b.arm.requests("PATCH", "")) != 1 }, time.Second, poll, "nothing replaced")
}
