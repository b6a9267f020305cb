package scaler_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/scaler"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	policy := scaler.Policy{OfflineAfter: 10 * time.Second, OfflineRetention: 5 * time.Minute, StartTimeout: time.Minute}
	pool := func(dedicated, low int) *batch.Pool {
		return &batch.Pool{ID: "p", State: batch.PoolActive, AllocationState: batch.AllocResizing,
			TargetDedicatedNodes: batch.Int(dedicated), TargetLowPriorityNodes: batch.Int(low)}
	}
	withState := func(p *batch.Pool, state, alloc string) *batch.Pool {
		if state != "" {
			p.State = state
		}
		if alloc != "" {
			p.AllocationState = alloc
		}
		return p
	}
	// node is a registered, alive, dedicated node last heard from ago.
	node := func(id, state string, ago time.Duration) scaler.Node {
		return scaler.Node{ID: id, Alive: true, Record: &protocol.NodeRecord{
			ComputeNode: batch.ComputeNode{ID: id, State: state, IsDedicated: true},
			Heartbeat:   now.Add(-ago)}}
	}
	low := func(n scaler.Node) scaler.Node { n.Record.IsDedicated = false; return n }
	dead := func(n scaler.Node) scaler.Node { n.Alive = false; return n }
	running := func(n scaler.Node, tasks int) scaler.Node { n.Record.RunningTasksCount = tasks; return n }
	offlineFor := func(n scaler.Node, d time.Duration) scaler.Node {
		n.Record.StateTransitionTime = batch.At(now.Add(-d))
		return n
	}
	stopping := func(n scaler.Node) scaler.Node { n.Stopping = true; return n }
	preemptedBy := func(n scaler.Node) scaler.Node { n.Preempted = true; return n }
	pending := func(id string, dedicated bool, ago time.Duration) scaler.Node {
		return scaler.Node{ID: id, Dedicated: dedicated, StartedAt: now.Add(-ago), Alive: true}
	}
	resizingSince := func(p *batch.Pool, ago time.Duration, timeout *batch.Duration) *batch.Pool {
		p.AllocationStateTransitionTime, p.ResizeTimeout = batch.At(now.Add(-ago)), timeout
		return p
	}
	autoscaled := func(p *batch.Pool) *batch.Pool { p.EnableAutoScale = batch.Bool(true); return p }
	removed := func(n scaler.Node, option string) scaler.Node { n.Record.RemoveOption = option; return n }
	timedOut := func(p *batch.Pool) *batch.Pool {
		p.AllocationState = batch.AllocSteady
		p.ResizeErrors = []batch.ResizeError{{Code: scaler.ResizeTimedOutCode}}
		return p
	}

	tests := []struct {
		name  string
		pool  *batch.Pool
		nodes []scaler.Node
		want  scaler.Plan
		alloc string
	}{
		{
			name: "EmptyPoolAtZeroIsSteady", pool: pool(0, 0),
			alloc: batch.AllocSteady,
		},
		{
			name: "StartsUpToTargets", pool: pool(2, 1),
			want:  scaler.Plan{StartDedicated: 2, StartLowPriority: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "CountsPendingNodes", pool: pool(2, 0),
			nodes: []scaler.Node{pending("a", true, time.Second), node("b", batch.NodeIdle, time.Second)},
			want:  scaler.Plan{CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "SteadyAtTarget", pool: pool(2, 1),
			nodes: []scaler.Node{node("a", batch.NodeIdle, time.Second), node("b", batch.NodeRunning, 0),
				low(node("c", batch.NodeIdle, 2*time.Second))},
			want:  scaler.Plan{CurrentDedicated: 2, CurrentLowPriority: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "StartingNodeKeepsPoolResizing", pool: pool(1, 0),
			nodes: []scaler.Node{node("a", batch.NodeStarting, time.Second)},
			want:  scaler.Plan{CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "ScaleInTakesPendingStartingIdleThenFewestTasks", pool: pool(1, 0),
			nodes: []scaler.Node{
				running(node("r1", batch.NodeRunning, 0), 3), running(node("r2", batch.NodeRunning, 0), 1),
				node("i", batch.NodeIdle, 0), node("s", batch.NodeStarting, 0), pending("p", true, time.Second)},
			want: scaler.Plan{Cancel: []string{"p"}, Leave: []string{"s", "i", "r2"},
				CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "ScaleInPerKind", pool: pool(1, 0),
			nodes: []scaler.Node{node("d", batch.NodeIdle, 0), low(node("l", batch.NodeIdle, 0))},
			want:  scaler.Plan{Leave: []string{"l"}, CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "LeavingNodeAliveIsStoppedAndBusy", pool: pool(1, 0),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), node("l", batch.NodeLeaving, time.Second)},
			want:  scaler.Plan{Stop: []string{"l"}, CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "LeavingNodeGoneIsDeleted", pool: pool(1, 0),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), dead(node("l", batch.NodeLeaving, time.Second))},
			want:  scaler.Plan{Delete: []string{"l"}, CurrentDedicated: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "StaleLeavingNodeIsDeletedAndStopped", pool: pool(0, 0),
			nodes: []scaler.Node{node("l", batch.NodeLeaving, time.Minute)},
			want:  scaler.Plan{Delete: []string{"l"}, Stop: []string{"l"}},
			alloc: batch.AllocSteady,
		},
		{
			name: "SilentDeadNodeGoesOfflineAndIsReplaced", pool: pool(1, 0),
			nodes: []scaler.Node{dead(node("a", batch.NodeIdle, 11*time.Second))},
			want:  scaler.Plan{MarkOffline: []string{"a"}, StartDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "SilentLiveNodeGoesOfflineButCounts", pool: pool(1, 0),
			nodes: []scaler.Node{node("a", batch.NodeRunning, 11*time.Second)},
			want:  scaler.Plan{MarkOffline: []string{"a"}, CurrentDedicated: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "HungOfflineNodeIsStoppedAndReplaced", pool: pool(1, 0),
			nodes: []scaler.Node{offlineFor(node("a", batch.NodeOffline, 71*time.Second), time.Minute)},
			want:  scaler.Plan{Stop: []string{"a"}, StartDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "OfflineNodeHeartbeatingAgainCounts", pool: pool(1, 0),
			nodes: []scaler.Node{dead(node("a", batch.NodeOffline, time.Second))},
			want:  scaler.Plan{CurrentDedicated: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "OfflineRecordKeptWithinRetention", pool: pool(0, 0),
			nodes: []scaler.Node{offlineFor(dead(node("a", batch.NodeOffline, time.Minute)), 4*time.Minute)},
			alloc: batch.AllocSteady,
		},
		{
			name: "OfflineRecordDeletedAfterRetention", pool: pool(0, 0),
			nodes: []scaler.Node{offlineFor(dead(node("a", batch.NodeOffline, time.Hour)), 6*time.Minute)},
			want:  scaler.Plan{Delete: []string{"a"}},
			alloc: batch.AllocSteady,
		},
		{
			name: "OfflineRetentionFallsBackToHeartbeat", pool: pool(0, 0),
			nodes: []scaler.Node{node("a", batch.NodeOffline, 6*time.Minute)},
			want:  scaler.Plan{Delete: []string{"a"}, Stop: []string{"a"}},
			alloc: batch.AllocSteady,
		},
		{
			name: "PendingExitedIsFailed", pool: pool(1, 0),
			nodes: []scaler.Node{dead(pending("p", true, time.Second))},
			want:  scaler.Plan{Failed: []string{"p"}, StartDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "PendingPastStartTimeoutIsFailed", pool: pool(0, 1),
			nodes: []scaler.Node{pending("p", false, 61*time.Second)},
			want:  scaler.Plan{Failed: []string{"p"}, StartLowPriority: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "StoppedPendingNodeIsForgottenOnceGone", pool: pool(1, 0),
			nodes: []scaler.Node{dead(stopping(pending("p", true, 0))), stopping(pending("q", true, 0))},
			want:  scaler.Plan{Forget: []string{"p"}, Stop: []string{"q"}, StartDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "DeletingPoolRemovesEverything", pool: withState(pool(2, 0), batch.PoolDeleting, ""),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), pending("p", true, 0),
				dead(node("o", batch.NodeOffline, time.Minute)), node("l", batch.NodeLeaving, 0)},
			want: scaler.Plan{Cancel: []string{"p"}, Delete: []string{"o"}, Stop: []string{"l"},
				Leave: []string{"a"}, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "DeletingPoolWaitsForStoppingNodes", pool: withState(pool(2, 0), batch.PoolDeleting, ""),
			nodes: []scaler.Node{stopping(pending("p", true, 0))},
			want:  scaler.Plan{Stop: []string{"p"}, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "DeletingPoolWithoutNodesIsDeleted", pool: withState(pool(2, 0), batch.PoolDeleting, ""),
			want:  scaler.Plan{DeletePool: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "ExternalNodesCountButStay", pool: pool(1, 0),
			nodes: []scaler.Node{dead(node("hand1", batch.NodeIdle, 0)), dead(node("hand2", batch.NodeRunning, 0))},
			want:  scaler.Plan{CurrentDedicated: 2},
			alloc: batch.AllocSteady,
		},
		{
			name:  "GonePoolRemovesNodes",
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), dead(node("b", batch.NodeLeaving, 0))},
			want:  scaler.Plan{Leave: []string{"a"}, Delete: []string{"b"}, Busy: true},
		},
		{
			name: "StopResizeFreezesCounts", pool: withState(pool(5, 0), "", batch.AllocStopping),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), pending("p", true, 0)},
			want:  scaler.Plan{Cancel: []string{"p"}, CurrentDedicated: 1, StopResize: true, Busy: true},
			alloc: batch.AllocSteady,
		},
		{
			name: "ResizeWithinTimeoutGoesOn", pool: resizingSince(pool(3, 0), 14*time.Minute, nil),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), pending("p", true, time.Second)},
			want:  scaler.Plan{StartDedicated: 1, CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "ResizeTimesOutAfterDefault15Minutes", pool: resizingSince(pool(3, 0), 16*time.Minute, nil),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), pending("p", true, time.Second)},
			want:  scaler.Plan{Cancel: []string{"p"}, CurrentDedicated: 1, Busy: true, ResizeTimedOut: true},
			alloc: batch.AllocSteady,
		},
		{
			name: "ResizeTimesOutAfterPoolsTimeout", pool: resizingSince(pool(2, 0), 6*time.Minute, batch.D(5*time.Minute)),
			want:  scaler.Plan{Busy: true, ResizeTimedOut: true},
			alloc: batch.AllocSteady,
		},
		{
			name: "CompleteResizeDoesNotTimeOut", pool: resizingSince(pool(1, 0), time.Hour, nil),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0)},
			want:  scaler.Plan{CurrentDedicated: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "AutoScalePoolsDoNotTimeOut", pool: autoscaled(resizingSince(pool(1, 0), time.Hour, nil)),
			want:  scaler.Plan{StartDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "PreemptedNodeIsKilledAndReplaced", pool: pool(0, 2),
			nodes: []scaler.Node{low(node("a", batch.NodePreempted, time.Second)), low(node("b", batch.NodeIdle, time.Second))},
			want:  scaler.Plan{Preempt: []string{"a"}, StartLowPriority: 1, CurrentLowPriority: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "NodeTheProviderPreemptedIsMarked", pool: pool(0, 1),
			nodes: []scaler.Node{preemptedBy(dead(low(node("a", batch.NodeRunning, time.Second))))},
			want:  scaler.Plan{MarkPreempted: []string{"a"}, StartLowPriority: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "ProviderPreemptionOfDedicatedNodeIsIgnored", pool: pool(1, 0),
			nodes: []scaler.Node{preemptedBy(node("a", batch.NodeIdle, time.Second))},
			want:  scaler.Plan{CurrentDedicated: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "PreemptedRecordIsKeptForRetention", pool: pool(0, 1),
			nodes: []scaler.Node{offlineFor(dead(low(node("a", batch.NodePreempted, time.Minute))), time.Minute),
				low(node("b", batch.NodeIdle, time.Second))},
			want:  scaler.Plan{CurrentLowPriority: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "PreemptedRecordIsDeletedAfterRetention", pool: pool(0, 1),
			nodes: []scaler.Node{offlineFor(dead(low(node("a", batch.NodePreempted, time.Hour))), time.Hour),
				low(node("b", batch.NodeIdle, time.Second))},
			want:  scaler.Plan{Delete: []string{"a"}, CurrentLowPriority: 1},
			alloc: batch.AllocSteady,
		},
		{
			name: "TimedOutPoolStartsNothing", pool: timedOut(pool(3, 0)),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0)},
			want:  scaler.Plan{CurrentDedicated: 1, TimedOut: true},
			alloc: batch.AllocSteady,
		},
		{
			name: "RemoveNodesTakesTheNamedNodeNotTheIdleOne", pool: pool(1, 0),
			nodes: []scaler.Node{node("i", batch.NodeIdle, 0),
				removed(running(node("r", batch.NodeRunning, 0), 1), protocol.OptionRequeue)},
			want:  scaler.Plan{Leave: []string{"r"}, CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "RemoveNodesWaitsForTaskCompletion", pool: pool(1, 0),
			nodes: []scaler.Node{node("i", batch.NodeIdle, 0),
				removed(running(node("r", batch.NodeRunning, 0), 1), protocol.OptionTaskCompletion)},
			want:  scaler.Plan{CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "RemoveNodesTaskCompletionLeavesWhenIdle", pool: pool(1, 0),
			nodes: []scaler.Node{node("i", batch.NodeIdle, 0),
				removed(node("r", batch.NodeIdle, 0), protocol.OptionTaskCompletion)},
			want:  scaler.Plan{Leave: []string{"r"}, CurrentDedicated: 1, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "RemovedNodeIsNotReplaced", pool: pool(0, 0),
			nodes: []scaler.Node{removed(node("r", batch.NodeIdle, 0), protocol.OptionTerminate)},
			want:  scaler.Plan{Leave: []string{"r"}, Busy: true},
			alloc: batch.AllocResizing,
		},
		{
			name: "TimedOutPoolStillScalesIn", pool: timedOut(pool(1, 0)),
			nodes: []scaler.Node{node("a", batch.NodeIdle, 0), node("b", batch.NodeRunning, 0)},
			want:  scaler.Plan{Leave: []string{"a"}, CurrentDedicated: 1, TimedOut: true, Busy: true},
			alloc: batch.AllocSteady,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := scaler.Decide(tt.pool, tt.nodes, policy, now)
			require.ElementsMatch(t, tt.want.Stop, got.Stop, "Stop")
			require.ElementsMatch(t, tt.want.Delete, got.Delete, "Delete")
			got.Stop, got.Delete, tt.want.Stop, tt.want.Delete = nil, nil, nil, nil
			require.Equal(t, tt.want, got)
			if tt.pool != nil {
				require.Equal(t, tt.alloc, got.AllocationState(tt.pool))
			}
		})
	}
}

func TestDecideNeverCountsMoreThanTarget(t *testing.T) {
	t.Parallel()
	now := time.Now()
	policy := scaler.Policy{OfflineAfter: 10 * time.Second, OfflineRetention: time.Minute, StartTimeout: time.Minute}
	states := []string{batch.NodeStarting, batch.NodeIdle, batch.NodeRunning, batch.NodeOffline, batch.NodeLeaving, batch.NodeUnusable}
	for seed := range 500 {
		target := seed % 4
		var nodes []scaler.Node
		for i := range seed % 7 {
			v := seed*31 + i*17
			id := string(rune('a' + i))
			if v%5 == 0 {
				nodes = append(nodes, scaler.Node{ID: id, Dedicated: true, StartedAt: now, Alive: v%3 != 0})
				continue
			}
			nodes = append(nodes, scaler.Node{ID: id, Alive: v%3 != 0, Record: &protocol.NodeRecord{
				ComputeNode: batch.ComputeNode{ID: id, State: states[v%len(states)], IsDedicated: true},
				Heartbeat:   now.Add(-time.Duration(v%20) * time.Second)}})
		}
		pl := scaler.Decide(&batch.Pool{State: batch.PoolActive, TargetDedicatedNodes: batch.Int(target)}, nodes, policy, now)
		counted := pl.CurrentDedicated + pl.StartDedicated
		external := 0             // heartbeating nodes the provider does not know: never removed
		for _, n := range nodes { // pending nodes kept count too
			if n.Record == nil && n.Alive && !slices.Contains(pl.Cancel, n.ID) && !slices.Contains(pl.Failed, n.ID) {
				counted++
			}
			if r := n.Record; r != nil && !n.Alive && r.State != batch.NodeLeaving &&
				now.Sub(r.Heartbeat) <= policy.OfflineAfter {
				external++
			}
		}
		require.Equal(t, max(target, external), counted, "seed %d: nodes after the plan must meet the target", seed)
		for _, id := range pl.Leave {
			require.False(t, slices.Contains(pl.Delete, id), "seed %d: %s both leaves and is deleted", seed, id)
		}
	}
}
