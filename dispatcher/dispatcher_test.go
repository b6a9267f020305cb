package dispatcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/dispatcher/dispatchertest"
	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

type testBundle struct {
	url string
	key []byte
	nc  *nats.Conn
	js  jetstream.JetStream
}

const account = "testacct"

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupWith(t, dispatcher.Config{})
}

// setupWith is setup with a dispatcher configuration (its listener and
// topology are set here).
func setupWith(t *testing.T, cfg dispatcher.Config) *testBundle {
	t.Helper()
	cfg.Topology = topology.Options{AckWait: 2 * time.Second}
	r := dispatchertest.Start(t, account, cfg)
	return &testBundle{url: r.URL, key: dispatchertest.Key, nc: r.NC, js: r.JS}
}

func (b *testBundle) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	n := int64(-1)
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd, n = bytes.NewReader(raw), int64(len(raw))
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, b.url+path+sep+"api-version=2022-10-01.16.0", rd)
	require.NoError(t, err)
	auth.Sign(req, account, b.key, n)
	return send(t, req)
}

// send sends a request and returns its status and body.
func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func TestPoolJobTaskLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "Pool1", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1, "taskSlotsPerNode": 2})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 409, code)
	require.Contains(t, string(body), `"code":"PoolExists"`)
	code, body = b.do(t, "GET", "/pools/pool1", nil)
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `"odata.metadata"`)
	require.Contains(t, string(body), `"taskSlotsPerNode":2`)

	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "nope"}})
	require.Equal(t, 404, code)
	require.Contains(t, string(body), "PoolNotFound")
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}, "onAllTasksComplete": "TerminateJob"})
	require.Equal(t, 201, code)

	tasks := []map[string]any{
		{"id": "ok", "commandLine": "true"},
		{"id": "bad id!", "commandLine": "true"},
		{"id": "ok", "commandLine": "true"},
		{"id": "fails", "commandLine": "false", "constraints": map[string]any{"maxTaskRetryCount": 1}},
	}
	code, body = b.do(t, "POST", "/jobs/job1/addtaskcollection", map[string]any{"value": tasks})
	require.Equal(t, 200, code, string(body))
	var res struct{ Value []batch.TaskAddResult }
	require.NoError(t, json.Unmarshal(body, &res))
	require.Len(t, res.Value, 4)
	require.Equal(t, "success", res.Value[0].Status)
	require.Equal(t, "clienterror", res.Value[1].Status)
	require.Equal(t, "InvalidPropertyValue", res.Value[1].Error.Code)
	require.Equal(t, "TaskExists", res.Value[2].Error.Code)
	require.Equal(t, "success", res.Value[3].Status)

	// Act as a worker: pull the two ready tasks and report.
	cons, err := topology.EnsurePoolConsumer(context.Background(), b.js, account, "pool1", 0, false)
	require.NoError(t, err)
	ctx := context.Background()
	report := func(m jetstream.Msg, exit int) {
		var tm protocol.TaskMessage
		require.NoError(t, json.Unmarshal(m.Data(), &tm))
		meta, err := m.Metadata()
		require.NoError(t, err)
		ev := protocol.TaskEvent{Type: protocol.EventCompleted, Account: account, JobID: tm.JobID, TaskID: tm.Task.ID,
			PoolID: tm.PoolID, NodeID: "node1", Attempt: tm.Attempt, Delivery: int(meta.NumDelivered),
			StartTime: time.Now(), EndTime: time.Now(), ExitCode: &exit}
		if exit != 0 {
			ev.FailureInfo = &batch.TaskFailureInformation{Category: "usererror", Code: "FailureExitCode"}
		}
		data, _ := json.Marshal(ev)
		_, err = b.js.Publish(ctx, topology.EventSubject(account, "job1", strings.ToLower(tm.Task.ID)), data)
		require.NoError(t, err)
		require.NoError(t, m.Ack())
	}
	runs := map[string]int{}
	for len(runs) < 2 || runs["fails"] < 2 {
		msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for m := range msgs.Messages() {
			var tm protocol.TaskMessage
			require.NoError(t, json.Unmarshal(m.Data(), &tm))
			runs[tm.Task.ID]++
			if tm.Task.ID == "fails" {
				report(m, 1)
			} else {
				report(m, 0)
			}
		}
	}
	require.Equal(t, map[string]int{"ok": 1, "fails": 2}, runs)
	require.Eventually(t, func() bool {
		_, body := b.do(t, "GET", "/jobs/job1", nil)
		return strings.Contains(string(body), `"state":"completed"`) && strings.Contains(string(body), "AllTasksComplete")
	}, 10*time.Second, 50*time.Millisecond)
	code, body = b.do(t, "GET", "/jobs/job1/taskcounts", nil)
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `"taskCounts":{"active":0,"running":0,"completed":2,"succeeded":1,"failed":1}`)
	code, body = b.do(t, "GET", "/jobs/job1/tasks/fails", nil)
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `"retryCount":1`)
	require.Contains(t, string(body), `"result":"failure"`)
	code, body = b.do(t, "GET", "/jobs/job1/tasks?$filter=state%20eq%20'completed'%20and%20executionInfo/exitCode%20eq%200&maxresults=1", nil)
	require.Equal(t, 200, code, string(body))
	require.Contains(t, string(body), `"id":"ok"`)

	resp, err := http.Get(b.url + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(metrics), `natch_tasks_added_total{path="api"} 2`)
	require.Contains(t, string(metrics), `natch_tasks_completed_total{result="failure"} 1`)
	require.Contains(t, string(metrics), `natch_task_retries_total 1`)
	require.Contains(t, string(metrics), `natch_api_requests_total{op="task.addcollection",status="200",transport="rest"} 1`)
}

func TestBadSignature(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, err := http.NewRequest("GET", b.url+"/pools?api-version=2022-10-01.16.0", nil)
	require.NoError(t, err)
	auth.Sign(req, account, []byte("wrong key"), -1)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode)
	require.Contains(t, string(body), "AuthenticationFailed")
}

func TestStaleSignature(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, err := http.NewRequest("GET", b.url+"/pools?api-version=2022-10-01.16.0", nil)
	require.NoError(t, err)
	req.Header.Set("ocp-date", time.Now().Add(-20*time.Minute).UTC().Format(http.TimeFormat))
	auth.Sign(req, account, b.key, -1)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode)
	require.Contains(t, string(body), "AuthenticationFailed")
	require.Contains(t, string(body), "clock skew")
}

func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, _ := b.do(t, "POST", "/pools", map[string]any{"id": "p", "vmSize": "x"})
	require.Equal(t, 201, code)
	req, err := http.NewRequest("GET", b.url+"/pools/p?api-version=2022-10-01.16.0", nil)
	require.NoError(t, err)
	auth.Sign(req, account, b.key, -1)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	require.NotEmpty(t, resp.Header.Get("Last-Modified"))
	require.NotEmpty(t, resp.Header.Get("request-id"))

	req, _ = http.NewRequest("GET", b.url+"/pools/p?api-version=2022-10-01.16.0", nil)
	req.Header.Set("If-None-Match", etag)
	auth.Sign(req, account, b.key, -1)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 304, resp.StatusCode)

	req, _ = http.NewRequest("POST", b.url+"/pools/p/resize?api-version=2022-10-01.16.0", strings.NewReader(`{"targetDedicatedNodes":1}`))
	req.Header.Set("If-Match", "0x1")
	auth.Sign(req, account, b.key, 26)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 412, resp.StatusCode)
	require.Contains(t, string(body), "ConditionNotMet")
	_, got := b.do(t, "GET", "/pools/p", nil)
	require.Contains(t, string(got), `"targetDedicatedNodes":0`, "a failed condition changes nothing")
}

func TestListPagesFollowNextLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, _ := b.do(t, "POST", "/pools", map[string]any{"id": "p", "vmSize": "x"})
	require.Equal(t, 201, code)
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "j", "poolInfo": map[string]any{"poolId": "p"}})
	require.Equal(t, 201, code)
	var tasks []map[string]any
	for i := range 25 {
		tasks = append(tasks, map[string]any{"id": fmt.Sprintf("t%02d", i), "commandLine": "true"})
	}
	code, _ = b.do(t, "POST", "/jobs/j/addtaskcollection", map[string]any{"value": tasks})
	require.Equal(t, 200, code)
	seen := map[string]int{}
	path := "/jobs/j/tasks?maxresults=10&$select=id"
	pages := 0
	for path != "" {
		code, body := b.do(t, "GET", path, nil)
		require.Equal(t, 200, code, string(body))
		var page struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
			Next string `json:"odata.nextLink"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		for _, v := range page.Value {
			seen[v.ID]++
		}
		pages++
		path = ""
		if page.Next != "" {
			require.True(t, strings.HasPrefix(page.Next, b.url+"/jobs/j/tasks?"), page.Next)
			require.Contains(t, page.Next, "maxresults=10")
			path = strings.Replace(strings.TrimPrefix(page.Next, b.url), "api-version=2022-10-01.16.0&", "", 1)
			path = strings.Replace(path, "&api-version=2022-10-01.16.0", "", 1)
		}
	}
	require.Equal(t, 3, pages)
	require.Len(t, seen, 25)
	for id, n := range seen {
		require.Equal(t, 1, n, id)
	}
}
