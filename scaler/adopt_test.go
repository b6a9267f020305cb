package scaler_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/shared/batch"
)

// namingProvider is a fakeProvider whose nodes register under ids of their
// own ("vm-" and the start id), as VMs of a scale set register under their
// computer names; it maps them back when adopted.
type namingProvider struct {
	*fakeProvider
	mu      sync.Mutex
	adopted map[string]string // node id → start id
	offers  []string          // "start→node" offers accepted
}

var _ scaler.Adopter = (*namingProvider)(nil)

func newNamingProvider(f *fakeProvider) *namingProvider {
	f.rename = func(id string) string { return "vm-" + id }
	return &namingProvider{fakeProvider: f, adopted: make(map[string]string)}
}

func (n *namingProvider) Adopt(pendingID, nodeID string) bool {
	if nodeID != "vm-"+pendingID { // only the right start: proves the scaler offers its oldest of the same kind
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.adopted[nodeID] = pendingID
	n.offers = append(n.offers, pendingID+"→"+nodeID)
	return true
}

func (n *namingProvider) id(nodeID string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.adopted[nodeID]; ok {
		return s
	}
	return nodeID
}

func (n *namingProvider) Stop(ctx context.Context, id string) error {
	return n.fakeProvider.Stop(ctx, n.id(id))
}

func (n *namingProvider) Alive(id string) bool { return n.fakeProvider.Alive(n.id(id)) }

func (n *namingProvider) accepted() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.offers)
}

// TestScalerAdoptsNodesThatNameThemselves runs a pool on a provider whose
// nodes register under ids the scaler did not choose: each registration
// takes the place of a start, so the pool reaches its target with exactly
// as many starts as nodes (none replaced after StartTimeout), and scaling
// in stops the nodes by their registered ids.
func TestScalerAdoptsNodesThatNameThemselves(t *testing.T) {
	t.Parallel()
	b := setup(t, true)
	prov := newNamingProvider(b.prov)
	b.addPool(t, "named", 2, 1)
	b.run(t, testConfig(t, prov))
	require.Eventually(t, b.steadyAt(t, "named", 2, 1), wait, poll)
	require.Equal(t, 3, prov.accepted())
	for id := range b.records(t, "named") {
		require.True(t, strings.HasPrefix(id, "vm-tvmps_"), id)
	}
	// Well past StartTimeout (2s): nothing was replaced.
	st := testConfig(t, prov).StartTimeout
	require.Never(t, func() bool { return b.prov.started() != 3 }, st+st/2, poll)

	b.changePool(t, "named", func(p *batch.Pool) { p.TargetDedicatedNodes, p.TargetLowPriorityNodes = batch.Int(0), batch.Int(0) })
	require.Eventually(t, b.steadyAt(t, "named", 0, 0), wait, poll)
	require.Equal(t, 3, b.prov.started())
}
