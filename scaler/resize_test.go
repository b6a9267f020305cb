package scaler_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/shared/batch"
)

// TestScalerResizeTimeout resizes a pool whose nodes never register: once
// the pool's resizeTimeout has passed, the scaler records an
// AllocationTimedout resize error, cancels the starts and turns the pool
// steady below its target, and starts nothing more until the next resize.
func TestScalerResizeTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, false) // nodes never register
	b.addPool(t, "slow", 2, 0)
	b.changePool(t, "slow", func(p *batch.Pool) {
		p.ResizeTimeout, p.AllocationStateTransitionTime = batch.D(time.Second), batch.At(time.Now())
	})
	cfg := testConfig(t, b.prov)
	cfg.StartTimeout = time.Minute // the resize times out first
	b.run(t, cfg)
	require.Eventually(t, func() bool {
		p := b.pool(t, "slow")
		return p.AllocationState == batch.AllocSteady && len(p.ResizeErrors) == 1
	}, wait, poll)
	p := b.pool(t, "slow")
	require.Equal(t, scaler.ResizeTimedOutCode, p.ResizeErrors[0].Code)
	require.Equal(t, 2, *p.TargetDedicatedNodes, "the target stays, as in Azure")
	require.Equal(t, 0, *p.CurrentDedicatedNodes)
	require.Eventually(t, func() bool { return len(b.prov.alive()) == 0 }, wait, poll, "starts cancelled")
	require.Equal(t, 2, b.prov.started())
	require.Never(t, func() bool { return b.prov.started() != 2 }, time.Second, poll, "nothing starts after the timeout")

	// A new resize (as the dispatcher writes it) clears the error and starts again.
	b.changePool(t, "slow", func(p *batch.Pool) {
		p.TargetDedicatedNodes, p.ResizeErrors = batch.Int(1), nil
		p.AllocationState, p.AllocationStateTransitionTime = batch.AllocResizing, batch.At(time.Now())
	})
	require.Eventually(t, func() bool { return b.prov.started() == 3 }, wait, poll)
}
