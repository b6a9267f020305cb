package scaler_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// fakeProvider runs nodes as goroutines that act as natch workers do: they
// register, heartbeat every 50ms, and go when their record is leavingpool
// or deleted (deleting it on the way out) or when stopped.
type fakeProvider struct {
	nodes    jetstream.KeyValue
	register bool // false: started nodes never register
	// rename, when set, gives a started node the id it registers under,
	// as a VM's computer name: the provider is then an Adopter.
	rename func(startID string) string
	// metrics, when set, gives a node's resource sample at each heartbeat.
	metrics func(id string, at time.Time) *protocol.NodeMetrics

	mu     sync.Mutex
	procs  map[string]*fakeNode
	starts []scaler.NodeSpec
	stops  []string
	wg     sync.WaitGroup
}

type fakeNode struct {
	spec     scaler.NodeSpec
	alive    bool
	silent   bool          // hung: alive, but no heartbeats
	graceful bool          // on quit, delete the record
	quit     chan struct{} // closed to end the node
}

func newFakeProvider(t *testing.T, nodes jetstream.KeyValue, register bool) *fakeProvider {
	f := &fakeProvider{nodes: nodes, register: register, procs: make(map[string]*fakeNode)}
	t.Cleanup(f.close)
	return f
}

func (f *fakeProvider) Start(_ context.Context, spec scaler.NodeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := &fakeNode{spec: spec, alive: true, quit: make(chan struct{})}
	f.procs[spec.NodeID] = n
	f.starts = append(f.starts, spec)
	if f.register {
		f.wg.Go(func() { f.run(n) })
	}
	return nil
}

func (f *fakeProvider) Stop(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, id)
	n := f.procs[id]
	if n == nil || !n.alive {
		return nil
	}
	n.graceful = true
	f.end(n)
	return nil
}

func (f *fakeProvider) Alive(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.procs[id]
	return n != nil && n.alive
}

// kill ends a node without a word: its record stays, its heartbeat stops.
func (f *fakeProvider) kill(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.procs[id]; n != nil && n.alive {
		f.end(n)
	}
}

// hang stops a node's heartbeats; its process stays alive.
func (f *fakeProvider) hang(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs[id].silent = true
}

// end ends n; f.mu held.
func (f *fakeProvider) end(n *fakeNode) {
	n.alive = false
	select {
	case <-n.quit:
	default:
		close(n.quit)
	}
}

// alive returns the specs of the live nodes.
func (f *fakeProvider) alive() []scaler.NodeSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []scaler.NodeSpec
	for _, n := range f.procs {
		if n.alive {
			out = append(out, n.spec)
		}
	}
	return out
}

func (f *fakeProvider) started() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts)
}

func (f *fakeProvider) stopped(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.stops {
		if s == id {
			return true
		}
	}
	return false
}

func (f *fakeProvider) close() {
	f.mu.Lock()
	for _, n := range f.procs {
		f.end(n)
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// run is a registered node's life.
func (f *fakeProvider) run(n *fakeNode) {
	id := n.spec.NodeID
	if f.rename != nil {
		id = f.rename(id)
	}
	key := topology.NodeKey(n.spec.Account, batch.Key(n.spec.PoolID), id)
	rec := protocol.NodeRecord{
		ComputeNode: batch.ComputeNode{ID: id, State: batch.NodeIdle, IsDedicated: n.spec.Dedicated,
			VMSize: n.spec.VMSize},
		Account: n.spec.Account, PoolID: n.spec.PoolID, Heartbeat: time.Now(), Slots: n.spec.Slots,
	}
	b, _ := json.Marshal(&rec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := f.nodes.Create(ctx, key, b)
	cancel()
	if err != nil {
		return
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.quit:
			f.mu.Lock()
			graceful := n.graceful
			f.mu.Unlock()
			if graceful {
				f.deleteRecord(key)
			}
			return
		case <-tick.C:
		}
		f.mu.Lock()
		silent := n.silent
		f.mu.Unlock()
		if !silent && !f.heartbeat(key) {
			f.mu.Lock()
			f.end(n)
			f.mu.Unlock()
			return
		}
	}
}

// heartbeat refreshes the record; false when the node must go.
func (f *fakeProvider) heartbeat(key string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e, err := f.nodes.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		return true
	}
	var rec protocol.NodeRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return true
	}
	if rec.State == batch.NodeLeaving {
		f.deleteRecord(key)
		return false
	}
	rec.Heartbeat = time.Now()
	if f.metrics != nil {
		rec.Metrics = f.metrics(rec.ID, rec.Heartbeat)
	}
	if rec.State == batch.NodeOffline {
		rec.State = batch.NodeIdle
	}
	b, _ := json.Marshal(&rec)
	_, _ = f.nodes.Update(ctx, key, b, e.Revision())
	return true
}

func (f *fakeProvider) deleteRecord(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = f.nodes.Delete(ctx, key)
}
