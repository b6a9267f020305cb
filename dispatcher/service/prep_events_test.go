package service

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

func TestApplyPreparing(t *testing.T) {
	t.Parallel()
	zero := batch.Int(0)
	tests := []struct {
		name        string
		events      []*protocol.TaskEvent
		wantState   string
		wantPrev    string
		wantNode    string
		wantRequeue int
	}{
		{name: "ActiveToPreparing", events: []*protocol.TaskEvent{ev(protocol.EventPreparing, 0, 1, nil, "")},
			wantState: batch.TaskPreparing, wantPrev: batch.TaskActive, wantNode: "n1"},
		{name: "PreparingToRunning", events: []*protocol.TaskEvent{ev(protocol.EventPreparing, 0, 1, nil, ""),
			ev(protocol.EventRunning, 0, 1, nil, "")},
			wantState: batch.TaskRunning, wantPrev: batch.TaskPreparing, wantNode: "n1"},
		{name: "PreparingThenCompleted", events: []*protocol.TaskEvent{ev(protocol.EventPreparing, 0, 1, nil, ""),
			ev(protocol.EventCompleted, 0, 1, zero, "")},
			wantState: batch.TaskCompleted, wantPrev: batch.TaskRunning, wantNode: "n1"},
		{name: "PrepFailedRequeues", events: []*protocol.TaskEvent{ev(protocol.EventPreparing, 0, 1, nil, ""),
			ev(protocol.EventRequeued, 0, 1, nil, "")},
			wantState: batch.TaskActive, wantPrev: batch.TaskPreparing, wantNode: "n1"},
		{name: "OtherNodeAfterRequeue", events: []*protocol.TaskEvent{ev(protocol.EventPreparing, 0, 1, nil, ""),
			ev(protocol.EventRequeued, 0, 1, nil, ""), onNode(ev(protocol.EventPreparing, 0, 2, nil, ""), "n2")},
			wantState: batch.TaskPreparing, wantPrev: batch.TaskActive, wantNode: "n2", wantRequeue: 1},
		{name: "LatePreparingAfterRunningIgnored", events: []*protocol.TaskEvent{ev(protocol.EventRunning, 0, 1, nil, ""),
			ev(protocol.EventPreparing, 0, 1, nil, "")},
			wantState: batch.TaskRunning, wantPrev: batch.TaskActive, wantNode: "n1"},
		{name: "RequeueFromOtherNodeIgnored", events: []*protocol.TaskEvent{ev(protocol.EventPreparing, 0, 1, nil, ""),
			onNode(ev(protocol.EventRequeued, 0, 1, nil, ""), "n2")},
			wantState: batch.TaskPreparing, wantPrev: batch.TaskActive, wantNode: "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &fakeClock{now: time.Unix(1000, 0)}
			task := activeTask(0)
			for _, e := range tt.events {
				apply(c, task, e)
			}
			require.Equal(t, tt.wantState, task.State)
			require.Equal(t, tt.wantPrev, task.PreviousState)
			require.NotNil(t, task.NodeInfo)
			require.Equal(t, tt.wantNode, task.NodeInfo.NodeID)
			require.Equal(t, tt.wantRequeue, task.ExecutionInfo.RequeueCount)
		})
	}
}

// A preparing event applied twice changes nothing the second time, in any
// mix with the other events.
func TestApplyPreparingIsIdempotent(t *testing.T) {
	t.Parallel()
	types := []string{protocol.EventPreparing, protocol.EventRunning, protocol.EventRequeued, protocol.EventCompleted}
	for seed := range 2000 {
		c := &fakeClock{now: time.Unix(1000, 0)}
		task := activeTask(seed%3 - 1)
		for step := range 6 {
			v := seed*7 + step*13
			e := onNode(ev(types[v%4], v%2, 1+v%3, nil, ""), []string{"n1", "n2"}[v%2])
			if e.Type == protocol.EventCompleted {
				e.ExitCode = batch.Int(v % 2)
				if v%2 == 1 {
					e.FailureInfo = &batch.TaskFailureInformation{Code: "FailureExitCode"}
				}
			}
			apply(c, task, e)
			before, err := json.Marshal(task)
			require.NoError(t, err)
			o := apply(c, task, e)
			after, err := json.Marshal(task)
			require.NoError(t, err)
			require.False(t, o.retry, "seed %d step %d", seed, step)
			require.JSONEq(t, string(before), string(after), "seed %d step %d: applying %s twice changed the task", seed, step, e.Type)
		}
	}
}
