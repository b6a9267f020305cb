package scaler

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// stopRecorder is a provider whose nodes are all alive and which records
// what it is asked to stop.
type stopRecorder struct {
	mu    sync.Mutex
	stops []string
}

func (p *stopRecorder) Start(context.Context, NodeSpec) error { return nil }
func (p *stopRecorder) Alive(string) bool                     { return true }
func (p *stopRecorder) Stop(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stops = append(p.stops, id)
	return nil
}

// A removeNodes marks the node it names, then lowers the pool's target.
// When the lower target reaches the scaler before the mark (they come
// through different watchers), the scaler must not pick a node of its own
// as well: it reads the node records afresh before its choice, and only
// the named node leaves. (Seen in CI: both nodes stopped, then a new one
// started.)
func TestRemoveNodesSeenBeforeItsMark(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js := natstest.Run(t)
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{Memory: true}))
	prov := &stopRecorder{}
	s, err := New(js, Config{Provider: prov, Holder: "test"})
	require.NoError(t, err)
	require.NoError(t, s.bind(ctx))

	now := time.Now()
	node := func(id, removeOption string) protocol.NodeRecord {
		return protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: id, State: batch.NodeIdle, IsDedicated: true},
			Account: "acct", PoolID: "pool1", Heartbeat: now, RemoveOption: removeOption}
	}
	put := func(r protocol.NodeRecord) uint64 {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		rev, err := s.nodes.Put(ctx, topology.NodeKey("acct", "pool1", r.ID), b)
		require.NoError(t, err)
		return rev
	}
	// The bucket: "b" named by removeNodes. What the scaler saw so far:
	// neither marked, and the target already down to 1.
	revA := put(node("a", ""))
	put(node("b", protocol.OptionRequeue))
	ps := s.poolFor("acct", "pool1")
	ps.rec = &batch.Pool{ID: "pool1", State: batch.PoolActive, AllocationState: batch.AllocResizing,
		TargetDedicatedNodes: batch.Int(1)}
	ps.nodes["a"] = nodeEntry{rec: node("a", ""), rev: revA}
	ps.nodes["b"] = nodeEntry{rec: node("b", ""), rev: 1}

	s.reconcile(ctx, ps)
	prov.mu.Lock()
	defer prov.mu.Unlock()
	require.Equal(t, []string{"b"}, prov.stops, "only the named node leaves")
}
