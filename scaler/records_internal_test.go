package scaler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// A stopResize written after the round's plan was made (the plan saw the
// pool resizing) is left for the next round, not overwritten.
func TestApplyPlanKeepsALaterStopResize(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &batch.Pool{ID: "p", AllocationState: batch.AllocStopping, TargetDedicatedNodes: batch.Int(4),
		CurrentDedicatedNodes: batch.Int(1)}
	applyPlan(p, Plan{CurrentDedicated: 2, StartDedicated: 2, Busy: true}, now)
	require.Equal(t, batch.AllocStopping, p.AllocationState)
	require.Equal(t, 2, *p.CurrentDedicatedNodes, "the counts are still written")
	require.Equal(t, 4, *p.TargetDedicatedNodes)

	// The next round's plan stops the resize.
	applyPlan(p, Plan{CurrentDedicated: 3, StopResize: true}, now)
	require.Equal(t, batch.AllocSteady, p.AllocationState)
	require.Equal(t, 3, *p.TargetDedicatedNodes)
	require.Equal(t, "ResizeStopped", p.ResizeErrors[0].Code)
}
