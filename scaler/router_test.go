package scaler_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
)

// recorder is a Provider that records what it is asked.
type recorder struct {
	name  string
	mu    sync.Mutex
	nodes map[string]bool // started, alive
	stops []string
}

func newRecorder(name string) *recorder { return &recorder{name: name, nodes: map[string]bool{}} }

func (r *recorder) Start(_ context.Context, spec scaler.NodeSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes[spec.NodeID] = true
	return nil
}

func (r *recorder) Stop(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops = append(r.stops, id)
	if r.nodes[id] {
		r.nodes[id] = false
	}
	return nil
}

func (r *recorder) Alive(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodes[id]
}

// adoptingRecorder also adopts every offer.
type adoptingRecorder struct{ *recorder }

func (a adoptingRecorder) Adopt(pendingID, nodeID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.nodes, pendingID)
	a.nodes[nodeID] = true
	return true
}

func TestRouter(t *testing.T) {
	t.Parallel()
	local, vmss := newRecorder("local"), adoptingRecorder{newRecorder("vmss")}
	r, err := scaler.NewRouter([]scaler.Route{{VMSize: "standard_d*", Provider: vmss}, {Provider: local}})
	require.NoError(t, err)
	ctx := t.Context()

	require.Same(t, vmss.recorder, r.ProviderFor("STANDARD_D4s_v5").(adoptingRecorder).recorder, "globs ignore case")
	require.Same(t, local, r.ProviderFor("standard_a1"))

	require.NoError(t, r.Start(ctx, scaler.NodeSpec{NodeID: "a", VMSize: "standard_d2"}))
	require.NoError(t, r.Start(ctx, scaler.NodeSpec{NodeID: "b", VMSize: "standard_a1"}))
	require.True(t, vmss.Alive("a"))
	require.True(t, local.Alive("b"))
	require.True(t, r.Alive("a"))
	require.True(t, r.Alive("b"))

	require.False(t, r.Adopt("b", "vm-b"), "local is no Adopter")
	require.True(t, r.Adopt("a", "vm-a"))
	require.True(t, r.Alive("vm-a"), "asks every provider for ids it did not start")
	require.NoError(t, r.Stop(ctx, "vm-a"))
	require.Equal(t, []string{"vm-a"}, vmss.stops)
	require.Equal(t, []string{"vm-a"}, local.stops, "unknown ids go to every provider")
	require.False(t, r.Alive("vm-a"))

	require.NoError(t, r.Stop(ctx, "b"))
	require.Equal(t, []string{"vm-a", "b"}, local.stops)
	require.Equal(t, []string{"vm-a"}, vmss.stops, "a started node goes to its own provider only")
	require.False(t, r.Alive("b"))

	_, err = scaler.NewRouter([]scaler.Route{{VMSize: "[", Provider: local}})
	require.Error(t, err)
	_, err = scaler.NewRouter(nil)
	require.Error(t, err)
	only, err := scaler.NewRouter([]scaler.Route{{VMSize: "standard_d*", Provider: local}})
	require.NoError(t, err)
	require.ErrorIs(t, only.Start(ctx, scaler.NodeSpec{NodeID: "c", VMSize: "standard_a1"}), scaler.ErrNoRoute)
}
