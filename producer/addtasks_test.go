package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/producer/producertest"
	"github.com/natch-io/natch/shared/batch"
)

func makeTasks(n int, cmdLen int) []batch.Task {
	tasks := make([]batch.Task, n)
	for i := range tasks {
		tasks[i] = batch.Task{ID: fmt.Sprintf("task-%03d", i), CommandLine: "echo " + strings.Repeat("x", cmdLen)}
	}
	return tasks
}

func TestAddTasksChunksAndMergesResults(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int32
	rs := newRecordingServer(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		var c struct {
			Value []batch.Task `json:"value"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		// Answer in reverse order, failing every task whose number ends in 7.
		var out []batch.TaskAddResult
		for i := len(c.Value) - 1; i >= 0; i-- {
			id := c.Value[i].ID
			if strings.HasSuffix(id, "7") {
				out = append(out, batch.TaskAddResult{Status: AddClientError, TaskID: id,
					Error: &batch.WireError{Code: "TaskExists", Message: batch.WireMessage{Lang: "en-US", Value: "The specified task already exists.\nRequestId:x"}}})
				continue
			}
			out = append(out, batch.TaskAddResult{Status: AddSuccess, TaskID: id})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"value": out})
	})
	c, err := New(Config{URL: rs.URL, Account: producertest.Account, Key: producertest.Key, MaxParallel: 2})
	require.NoError(t, err)

	tasks := makeTasks(250, 10)
	results, err := c.AddTasks(context.Background(), "job1", tasks)
	require.NoError(t, err)
	require.Len(t, results, 250)
	for i, r := range results {
		require.Equal(t, tasks[i].ID, r.TaskID)
		if strings.HasSuffix(r.TaskID, "7") {
			require.Equal(t, AddClientError, r.Status)
			e := AddError(r)
			require.ErrorIs(t, e, batch.ErrTaskExists)
			require.Equal(t, "The specified task already exists.", e.Message)
		} else {
			require.Equal(t, AddSuccess, r.Status)
			require.Nil(t, AddError(r))
		}
	}
	reqs := rs.requests()
	require.Len(t, reqs, 3)
	sizes := map[int]int{}
	for _, r := range reqs {
		require.Equal(t, "/jobs/job1/addtaskcollection?api-version=2022-10-01.16.0", r.rawURI)
		require.Equal(t, contentTypeModel, r.contentType)
		var c batch.TaskAddCollection
		require.NoError(t, json.Unmarshal(r.body, &c))
		sizes[len(c.Value)]++
	}
	require.Equal(t, map[int]int{100: 2, 50: 1}, sizes)
	require.LessOrEqual(t, peak.Load(), int32(2))
}

func TestAddTasksSplitsBySize(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	require.NoError(t, b.client.AddJob(ctx, &batch.Job{ID: "job1", PoolInfo: &batch.PoolInformation{PoolID: "p"}}))
	// 100 tasks of ~30 KB are ~3 MB: at least 3 requests, each under 1 MB.
	tasks := makeTasks(100, 30<<10)
	// And one that cannot fit any request.
	tasks = append(tasks, batch.Task{ID: "huge", CommandLine: strings.Repeat("y", batch.MaxCollectionBytes)})
	results, err := b.client.AddTasks(ctx, "job1", tasks)
	require.NoError(t, err)
	for _, r := range results[:100] {
		require.Equal(t, AddSuccess, r.Status, r.TaskID)
	}
	require.Equal(t, "huge", results[100].TaskID)
	require.Equal(t, AddClientError, results[100].Status)
	require.Equal(t, "RequestBodyTooLarge", results[100].Error.Code)

	n := 0
	for _, r := range b.srv.Requests() {
		if strings.HasSuffix(r.Path, "/addtaskcollection") {
			n++
			require.Less(t, len(r.Body), batch.MaxCollectionBytes)
		}
	}
	require.GreaterOrEqual(t, n, 3)
	_, ok := b.srv.Task("job1", "task-099")
	require.True(t, ok)
}

func TestAddTasksWholeChunkError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	results, err := b.client.AddTasks(context.Background(), "missing", makeTasks(150, 1))
	require.ErrorIs(t, err, batch.ErrJobNotFound)
	require.Len(t, results, 150)
	for _, r := range results {
		require.Equal(t, AddClientError, r.Status)
		require.Equal(t, "JobNotFound", r.Error.Code)
	}
}

func TestSplitChunks(t *testing.T) {
	t.Parallel()
	enc := func(sizes ...int) []json.RawMessage {
		out := make([]json.RawMessage, len(sizes))
		for i, n := range sizes {
			out[i] = make(json.RawMessage, n)
		}
		return out
	}
	tests := []struct {
		name      string
		sizes     []int
		maxTasks  int
		maxBytes  int
		want      [][]int
		wantLarge []int
	}{
		{name: "ByCount", sizes: []int{1, 1, 1, 1, 1}, maxTasks: 2, maxBytes: 1000, want: [][]int{{0, 1}, {2, 3}, {4}}},
		// envelope 12 + 40 + 1 + 40 = 93 < 100; a third would be 134.
		{name: "ByBytes", sizes: []int{40, 40, 40, 40}, maxTasks: 10, maxBytes: 100, want: [][]int{{0, 1}, {2, 3}}},
		{name: "TooLarge", sizes: []int{10, 95, 10}, maxTasks: 10, maxBytes: 100, want: [][]int{{0, 2}}, wantLarge: []int{1}},
		{name: "Empty", maxTasks: 10, maxBytes: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, large := splitChunks(enc(tt.sizes...), tt.maxTasks, tt.maxBytes)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantLarge, large)
		})
	}
}
