package state

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

func rec(state, result string, slots int) *TaskRecord {
	t := &TaskRecord{Task: batch.Task{State: state, RequiredSlots: batch.Int(slots),
		ExecutionInfo: &batch.TaskExecutionInformation{Result: result}}}
	return t
}

func TestDelta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		before, after *TaskRecord
		want          Counts
	}{
		{name: "Added", after: rec(batch.TaskActive, "", 1),
			want: Counts{Tasks: batch.TaskCounts{Active: 1}, Slots: batch.TaskCounts{Active: 1}, Total: 1}},
		{name: "Started", before: rec(batch.TaskActive, "", 2), after: rec(batch.TaskRunning, "", 2),
			want: Counts{Tasks: batch.TaskCounts{Active: -1, Running: 1}, Slots: batch.TaskCounts{Active: -2, Running: 2}}},
		{name: "Succeeded", before: rec(batch.TaskRunning, "", 1), after: rec(batch.TaskCompleted, batch.ResultSuccess, 1),
			want: Counts{Tasks: batch.TaskCounts{Running: -1, Completed: 1, Succeeded: 1}, Slots: batch.TaskCounts{Running: -1, Completed: 1, Succeeded: 1}}},
		{name: "Failed", before: rec(batch.TaskActive, "", 1), after: rec(batch.TaskCompleted, batch.ResultFailure, 1),
			want: Counts{Tasks: batch.TaskCounts{Active: -1, Completed: 1, Failed: 1}, Slots: batch.TaskCounts{Active: -1, Completed: 1, Failed: 1}}},
		{name: "DeletedCompleted", before: rec(batch.TaskCompleted, batch.ResultSuccess, 1),
			want: Counts{Tasks: batch.TaskCounts{Completed: -1, Succeeded: -1}, Slots: batch.TaskCounts{Completed: -1, Succeeded: -1}, Total: -1}},
		{name: "NoChange", before: rec(batch.TaskRunning, "", 1), after: rec(batch.TaskRunning, "", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Delta(tt.before, tt.after)
			require.Equal(t, tt.want, got)
			// Deltas add up: applying before→after to before's counts gives after's.
			c := CountOf(tt.before)
			c.Add(got)
			require.Equal(t, CountOf(tt.after), c)
		})
	}
}
