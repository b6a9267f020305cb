package service

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

type fakeClock struct {
	now  time.Time
	tick int
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Stamp() (string, *batch.Time) {
	c.tick++
	return fmt.Sprintf("0x%d", c.tick), batch.At(c.now)
}

func activeTask(maxRetries int) *state.TaskRecord {
	t := &state.TaskRecord{Task: batch.Task{ID: "t1", State: batch.TaskActive,
		Constraints:   &batch.TaskConstraints{MaxTaskRetryCount: batch.Int(maxRetries)},
		ExecutionInfo: &batch.TaskExecutionInformation{}}}
	return t
}

func ev(typ string, attempt, delivery int, exit *int, code string) *protocol.TaskEvent {
	e := &protocol.TaskEvent{Type: typ, JobID: "j", TaskID: "t1", NodeID: "n1", PoolID: "p", Attempt: attempt,
		Delivery: delivery, StartTime: time.Unix(100, 0), EndTime: time.Unix(101, 0), ExitCode: exit}
	if code != "" {
		e.FailureInfo = &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: code}
	}
	return e
}

func onNode(e *protocol.TaskEvent, node string) *protocol.TaskEvent {
	e.NodeID = node
	return e
}

func TestApply(t *testing.T) {
	t.Parallel()
	zero, seven := batch.Int(0), batch.Int(7)
	tests := []struct {
		name        string
		task        func() *state.TaskRecord
		events      []*protocol.TaskEvent
		wantState   string
		wantResult  string
		wantRetries int
		wantRequeue int
		wantAttempt int
		wantRetry   bool
		wantKill    bool
		wantLater   bool
		check       func(*testing.T, *state.TaskRecord)
	}{
		{name: "RunsThenSucceeds", task: func() *state.TaskRecord { return activeTask(0) },
			events:    []*protocol.TaskEvent{ev(protocol.EventRunning, 0, 1, nil, ""), ev(protocol.EventCompleted, 0, 1, zero, "")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultSuccess},
		{name: "CompletedWithoutRunningEvent", task: func() *state.TaskRecord { return activeTask(0) },
			check: func(t *testing.T, task *state.TaskRecord) {
				require.Equal(t, batch.TaskRunning, task.PreviousState, "a task that ran was running before it completed")
				require.Equal(t, time.Unix(100, 0).UTC(), task.PreviousStateTransitionTime.Time)
			},
			events:    []*protocol.TaskEvent{ev(protocol.EventCompleted, 0, 1, zero, "")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultSuccess},
		{name: "NonZeroExitRetries", task: func() *state.TaskRecord { return activeTask(2) },
			events:    []*protocol.TaskEvent{ev(protocol.EventCompleted, 0, 1, seven, "FailureExitCode")},
			wantState: batch.TaskActive, wantRetries: 1, wantAttempt: 1, wantRetry: true},
		{name: "UnlimitedRetries", task: func() *state.TaskRecord {
			t := activeTask(-1)
			t.ExecutionInfo.RetryCount, t.Attempt = 50, 50
			return t
		},
			events:    []*protocol.TaskEvent{ev(protocol.EventCompleted, 50, 1, seven, "FailureExitCode")},
			wantState: batch.TaskActive, wantRetries: 51, wantAttempt: 51, wantRetry: true},
		{name: "RetriesExhausted", task: func() *state.TaskRecord {
			t := activeTask(1)
			t.ExecutionInfo.RetryCount, t.Attempt = 1, 1
			return t
		},
			events:    []*protocol.TaskEvent{ev(protocol.EventCompleted, 1, 1, seven, "FailureExitCode")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultFailure, wantRetries: 1, wantAttempt: 1},
		{name: "WallClockIsNotRetried", task: func() *state.TaskRecord { return activeTask(3) },
			events:    []*protocol.TaskEvent{ev(protocol.EventCompleted, 0, 1, batch.Int(137), "MaxWallClockTimeExpiry")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultFailure},
		{name: "RedeliveryCountsAsRequeue", task: func() *state.TaskRecord { return activeTask(0) },
			events: []*protocol.TaskEvent{ev(protocol.EventRunning, 0, 1, nil, ""), ev(protocol.EventRunning, 0, 3, nil, ""),
				ev(protocol.EventCompleted, 0, 3, zero, "")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultSuccess, wantRequeue: 2},
		{name: "FirstSeenOnSecondDelivery", task: func() *state.TaskRecord { return activeTask(0) },
			events:    []*protocol.TaskEvent{ev(protocol.EventCompleted, 0, 2, zero, "")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultSuccess, wantRequeue: 1},
		{name: "StaleDeliveryIgnored", task: func() *state.TaskRecord { return activeTask(0) },
			events:    []*protocol.TaskEvent{ev(protocol.EventRunning, 0, 2, nil, ""), ev(protocol.EventCompleted, 0, 1, seven, "FailureExitCode")},
			wantState: batch.TaskRunning, wantRequeue: 1},
		{name: "MovedNodeWithoutNewDeliveryIsARequeue", task: func() *state.TaskRecord { return activeTask(0) },
			events: []*protocol.TaskEvent{ev(protocol.EventRunning, 0, 1, nil, ""), onNode(ev(protocol.EventRunning, 0, 1, nil, ""), "n2"),
				onNode(ev(protocol.EventCompleted, 0, 1, zero, ""), "n2")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultSuccess, wantRequeue: 1},
		{name: "RequeuedGoesBackToActive", task: func() *state.TaskRecord { return activeTask(0) },
			events:    []*protocol.TaskEvent{ev(protocol.EventRunning, 0, 1, nil, ""), ev(protocol.EventRequeued, 0, 1, nil, "")},
			wantState: batch.TaskActive},
		{name: "EarlierAttemptIgnored", task: func() *state.TaskRecord {
			t := activeTask(3)
			t.Attempt, t.ExecutionInfo.RetryCount = 2, 2
			return t
		},
			events:    []*protocol.TaskEvent{ev(protocol.EventCompleted, 1, 1, zero, "")},
			wantState: batch.TaskActive, wantRetries: 2, wantAttempt: 2},
		{name: "LaterAttemptWaits", task: func() *state.TaskRecord { return activeTask(3) },
			events:    []*protocol.TaskEvent{ev(protocol.EventRunning, 1, 1, nil, "")},
			wantState: batch.TaskActive, wantLater: true},
		{name: "TerminatedBeforeStartIsKilled", task: func() *state.TaskRecord {
			t := activeTask(0)
			t.State = batch.TaskCompleted
			t.ExecutionInfo.Result = batch.ResultFailure
			t.ExecutionInfo.FailureInfo = &batch.TaskFailureInformation{Code: protocol.CodeTaskEnded}
			return t
		},
			events:    []*protocol.TaskEvent{ev(protocol.EventRunning, 0, 1, nil, "")},
			wantState: batch.TaskCompleted, wantResult: batch.ResultFailure, wantKill: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &fakeClock{now: time.Unix(1000, 0)}
			task := tt.task()
			var o outcome
			for _, e := range tt.events {
				r := apply(c, task, e)
				o.retry, o.kill, o.later = o.retry || r.retry, o.kill || r.kill, o.later || r.later
			}
			require.Equal(t, tt.wantState, task.State)
			require.Equal(t, tt.wantResult, task.ExecutionInfo.Result)
			require.Equal(t, tt.wantRetries, task.ExecutionInfo.RetryCount)
			require.Equal(t, tt.wantRequeue, task.ExecutionInfo.RequeueCount)
			require.Equal(t, tt.wantAttempt, task.Attempt)
			require.Equal(t, tt.wantRetry, o.retry, "retry")
			require.Equal(t, tt.wantKill, o.kill, "kill")
			require.Equal(t, tt.wantLater, o.later, "later")
			if tt.check != nil {
				tt.check(t, task)
			}
		})
	}
}

// Applying any event a second time changes nothing: at-least-once delivery,
// exactly-once effect.
func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	types := []string{protocol.EventRunning, protocol.EventRequeued, protocol.EventCompleted}
	exits := []*int{nil, batch.Int(0), batch.Int(3)}
	for seed := range 2000 {
		c := &fakeClock{now: time.Unix(1000, 0)}
		task := activeTask(seed%4 - 1)
		for step := range 6 {
			v := seed*7 + step*13
			e := ev(types[v%3], v%2, 1+v%3, exits[v%3], "")
			if e.ExitCode != nil && *e.ExitCode != 0 {
				e.FailureInfo = &batch.TaskFailureInformation{Code: "FailureExitCode"}
			}
			apply(c, task, e)
			before, err := json.Marshal(task)
			require.NoError(t, err)
			o := apply(c, task, e)
			after, err := json.Marshal(task)
			require.NoError(t, err)
			if !o.changed {
				require.JSONEq(t, string(before), string(after), "seed %d step %d: an unchanged outcome changed the task", seed, step)
			}
			require.False(t, o.retry, "seed %d step %d: the same event retried twice", seed, step)
			require.Equal(t, before, after, "seed %d step %d: applying %s twice changed the task", seed, step, e.Type)
		}
	}
}
