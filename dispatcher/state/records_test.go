package state

import (
	"encoding/json"
	"strconv"
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

func TestWaitListJSON(t *testing.T) {
	t.Parallel()
	w := WaitList{"a.j.t.merge", "a.j.n.0", "a.j.n.1", "a.j.n.2", "a.j.n.4", "a.j.n.5", "a.j.n.7", "a.j.t.x",
		"a.k.n.8", "a.k.n.9", "a.j.n.10"}
	b, err := json.Marshal(w)
	require.NoError(t, err)
	require.JSONEq(t, `["a.j.t.merge","a.j.n.0-2","a.j.n.4-5","a.j.n.7","a.j.t.x","a.k.n.8-9","a.j.n.10"]`, string(b))
	var back WaitList
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, w, back)

	// A merge task over a range of 100,000 parents, half of them ended.
	var big WaitList
	for n := range 100_000 {
		if n%2 == 0 || n > 50_000 {
			big = append(big, "acct.job.n."+strconv.Itoa(n))
		}
	}
	b, err = json.Marshal(big)
	require.NoError(t, err)
	require.Less(t, len(b), 1<<20)
	back = nil
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, big, back)
	b, err = json.Marshal(big[25_001:])
	require.NoError(t, err)
	require.Equal(t, `["acct.job.n.50001-99999"]`, string(b), "a contiguous tail is one entry")

	// Records written as plain lists read the same; a bad run is an error.
	require.NoError(t, json.Unmarshal([]byte(`["a.j.n.1","a.j.n.2","x"]`), &back))
	require.Equal(t, WaitList{"a.j.n.1", "a.j.n.2", "x"}, back)
	require.Error(t, json.Unmarshal([]byte(`["a.j.n.5-2"]`), &back))
	require.Error(t, json.Unmarshal([]byte(`["a.j.n.0-99999999999"]`), &back))
	require.NoError(t, json.Unmarshal([]byte(`[]`), &back))
	require.Nil(t, back)
	// Keys that only look like ranges stay as they are.
	w = WaitList{"a.j.n.01", "a.j.n.02", "a.j.n.", "n.", "a.n.t.5-3", "a.n.t.x-1", "a.j.t.n.1"}
	b, err = json.Marshal(w)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, w, back)
}

func BenchmarkWaitListMarshal(b *testing.B) {
	w := make(WaitList, 4000)
	for n := range w {
		w[n] = "acct.job.n." + strconv.Itoa(n)
	}
	for b.Loop() {
		_, _ = json.Marshal(w)
	}
}
