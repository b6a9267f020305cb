package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/producer/producertest"
	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/batch"
)

type testBundle struct {
	srv    *producertest.Server
	client *Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	srv := producertest.NewServer(t)
	c, err := New(Config{URL: srv.URL, Account: producertest.Account, Key: producertest.Key})
	require.NoError(t, err)
	return &testBundle{srv: srv, client: c}
}

// recordingServer is an httptest server that verifies each request's
// SharedKey signature, records it and answers with handle.
type recordingServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, rawURI, contentType, contentLength string
	body                                       []byte
}

func newRecordingServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *recordingServer {
	t.Helper()
	key, err := auth.DecodeKey(producertest.Key)
	require.NoError(t, err)
	rs := &recordingServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		account, sig, err := auth.ParseSharedKey(r.Header.Get("Authorization"))
		if err == nil {
			err = auth.Verify(r, account, sig, [][]byte{key}, time.Now())
		}
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"code":"AuthenticationFailed","message":{"lang":"en-US","value":"`+err.Error()+`"}}`)
			return
		}
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, recorded{method: r.Method, rawURI: r.RequestURI, contentType: r.Header.Get("Content-Type"),
			contentLength: r.Header.Get("Content-Length"), body: body})
		rs.mu.Unlock()
		handle(w, r, body)
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *recordingServer) requests() []recorded {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]recorded(nil), rs.reqs...)
}

func newClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(Config{URL: url, Account: producertest.Account, Key: producertest.Key})
	require.NoError(t, err)
	return c
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "MissingURL", cfg: Config{Account: "a", Key: producertest.Key}, want: "URL is required"},
		{name: "NotHTTP", cfg: Config{URL: "nats://x:4222", Account: "a", Key: producertest.Key}, want: "http(s) origin"},
		{name: "MissingAccount", cfg: Config{URL: "http://x", Key: producertest.Key}, want: "Account is required"},
		{name: "MissingKey", cfg: Config{URL: "http://x", Account: "a"}, want: "Key is required"},
		{name: "KeyNotBase64", cfg: Config{URL: "http://x", Account: "a", Key: "not base64!"}, want: "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// Every operation against the fake, which verifies each signature.
func TestClientOperationsSigned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.client

	require.NoError(t, c.AddPool(ctx, &batch.Pool{ID: "pool1", VMSize: "standard_d2s_v3", TargetDedicatedNodes: batch.Int(2)}))
	pool, err := c.GetPool(ctx, "pool1")
	require.NoError(t, err)
	require.Equal(t, batch.PoolActive, pool.State)
	require.Equal(t, 2, *pool.CurrentDedicatedNodes)
	require.NoError(t, c.ResizePool(ctx, "pool1", &batch.PoolResize{TargetDedicatedNodes: batch.Int(3)}))
	b.srv.AddNode("pool1", batch.ComputeNode{ID: "node-1", State: batch.NodeIdle})
	nodes, err := c.ListNodes(ctx, "pool1", nil)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	node, err := c.GetNode(ctx, "pool1", "node-1")
	require.NoError(t, err)
	require.Equal(t, batch.NodeIdle, node.State)

	require.NoError(t, c.AddJob(ctx, &batch.Job{ID: "job1", PoolInfo: &batch.PoolInformation{PoolID: "pool1"}}))
	require.NoError(t, c.AddTask(ctx, "job1", &batch.Task{ID: "t1", CommandLine: "echo 'a && b' > out.txt"}))
	task, err := c.GetTask(ctx, "job1", "t1")
	require.NoError(t, err)
	require.Equal(t, "echo 'a && b' > out.txt", task.CommandLine)
	require.NoError(t, c.TerminateTask(ctx, "job1", "t1"))
	counts, err := c.TaskCounts(ctx, "job1")
	require.NoError(t, err)
	require.Equal(t, batch.TaskCounts{Completed: 1, Failed: 1}, counts.TaskCounts)
	tasks, err := c.ListTasks(ctx, "job1", &ListOptions{Filter: "state eq 'completed'"})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.NoError(t, c.DeleteTask(ctx, "job1", "t1"))
	require.NoError(t, c.TerminateJob(ctx, "job1", "done"))
	require.NoError(t, c.TerminateJob(ctx, "job1", ""))
	jobs, err := c.ListJobs(ctx, nil)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, batch.JobCompleted, jobs[0].State)
	require.NoError(t, c.DeleteJob(ctx, "job1"))
	pools, err := c.ListPools(ctx, nil)
	require.NoError(t, err)
	require.Len(t, pools, 1)
	require.NoError(t, c.DeletePool(ctx, "pool1"))
	_, err = c.GetPool(ctx, "pool1")
	require.ErrorIs(t, err, batch.ErrPoolNotFound)

	// The Content-Type of each operation is the SDK's: the OData one for
	// operations with a body model, even without a body.
	want := map[string]string{
		"POST /pools":                        contentTypeModel,
		"POST /pools/pool1/resize":           contentTypeModel,
		"POST /jobs/job1/terminate":          contentTypeModel,
		"POST /jobs/job1/tasks/t1/terminate": contentTypePlain,
		"GET /pools/pool1":                   contentTypePlain,
		"DELETE /jobs/job1":                  contentTypePlain,
	}
	seen := map[string]bool{}
	for _, r := range b.srv.Requests() {
		require.Equal(t, batch.APIVersion, r.Query.Get("api-version"))
		if ct, ok := want[r.Method+" "+r.Path]; ok {
			require.Equal(t, ct, r.ContentType, r.Method+" "+r.Path)
			seen[r.Method+" "+r.Path] = true
		}
	}
	require.Len(t, seen, len(want))
}

func TestClientWrongKeyIsAuthenticationFailed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := New(Config{URL: b.srv.URL, Account: producertest.Account, Key: "c2VjcmV0"})
	require.NoError(t, err)
	_, err = c.GetPool(context.Background(), "p")
	var e *batch.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, http.StatusForbidden, e.Status)
	require.Equal(t, "AuthenticationFailed", e.Code)
	require.Equal(t, auth.ErrSignature.Error(), e.Value("AuthenticationErrorDetail"))
}

func TestClientWireFormat(t *testing.T) {
	t.Parallel()
	rs := newRecordingServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		switch {
		case strings.Contains(r.RequestURI, "/files/"):
			_, _ = io.WriteString(w, "hello world")
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/terminate"):
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"value":[]}`)
		}
	})
	c := newClient(t, rs.URL+"/")
	ctx := context.Background()

	var out bytes.Buffer
	require.NoError(t, c.GetTaskFile(ctx, "job1", "task1", "wd/sub dir/it's.txt", &out))
	require.Equal(t, "hello world", out.String())
	require.NoError(t, c.TerminateTask(ctx, "job1", "task1"))
	_, err := c.ListPools(ctx, &ListOptions{Filter: "state eq 'active' and startswith(id,'pool')", Select: "id,state", MaxResults: 10})
	require.NoError(t, err)

	reqs := rs.requests()
	require.Len(t, reqs, 3)
	// The file path is one segment: '/' travels as %2F, as the SDK sends it.
	require.Equal(t, "/jobs/job1/tasks/task1/files/wd%2Fsub%20dir%2Fit%27s.txt?api-version=2022-10-01.16.0", reqs[0].rawURI)
	require.Empty(t, reqs[0].contentLength)
	// A body-less POST carries (and signs) Content-Length 0.
	require.Equal(t, "0", reqs[1].contentLength)
	require.Empty(t, reqs[1].body)
	require.Equal(t, contentTypePlain, reqs[1].contentType)
	require.Equal(t, "/pools?api-version=2022-10-01.16.0&$filter=state%20eq%20%27active%27%20and%20startswith%28id%2C%27pool%27%29&$select=id%2Cstate&maxresults=10", reqs[2].rawURI)
}

func TestClientResizeBody(t *testing.T) {
	t.Parallel()
	rs := newRecordingServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusAccepted) })
	c := newClient(t, rs.URL)
	require.NoError(t, c.ResizePool(context.Background(), "pool1", &batch.PoolResize{TargetDedicatedNodes: batch.Int(2),
		TargetLowPriorityNodes: batch.Int(0), ResizeTimeout: batch.D(10 * time.Minute), NodeDeallocationOption: "requeue"}))
	reqs := rs.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/pools/pool1/resize?api-version=2022-10-01.16.0", reqs[0].rawURI)
	require.JSONEq(t, `{"targetDedicatedNodes":2,"targetLowPriorityNodes":0,"resizeTimeout":"PT10M","nodeDeallocationOption":"requeue"}`, string(reqs[0].body))
	require.Equal(t, contentTypeModel, reqs[0].contentType)
}

// The list methods follow odata.nextLink as an absolute URL (even to
// another origin), setting api-version on it.
func TestClientFollowsAbsoluteNextLink(t *testing.T) {
	t.Parallel()
	other := newRecordingServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		_, _ = io.WriteString(w, `{"value":[{"id":"t3","commandLine":"c"}]}`)
	})
	first := newRecordingServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Query().Get("$skiptoken") == "" {
			_, _ = io.WriteString(w, `{"value":[{"id":"t1","commandLine":"c"}],"odata.nextLink":"http://`+r.Host+
				`/jobs/job1/tasks?api-version=1999-01-01&%24filter=state+eq+%27active%27&%24skiptoken=page2"}`)
			return
		}
		_, _ = io.WriteString(w, `{"value":[{"id":"t2","commandLine":"c"}],"odata.nextLink":"`+other.URL+
			`/jobs/job1/tasks?$skiptoken=page3&maxresults=1"}`)
	})
	c := newClient(t, first.URL)
	tasks, err := c.ListTasks(context.Background(), "job1", &ListOptions{Filter: "state eq 'active'"})
	require.NoError(t, err)
	ids := []string{}
	for _, tk := range tasks {
		ids = append(ids, tk.ID)
	}
	require.Equal(t, []string{"t1", "t2", "t3"}, ids)

	reqs := first.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "/jobs/job1/tasks?api-version=2022-10-01.16.0&%24filter=state+eq+%27active%27&%24skiptoken=page2", reqs[1].rawURI)
	oreqs := other.requests()
	require.Len(t, oreqs, 1)
	require.Equal(t, "/jobs/job1/tasks?$skiptoken=page3&maxresults=1&api-version=2022-10-01.16.0", oreqs[0].rawURI)
}

func TestClientPagesThroughFake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	require.NoError(t, b.client.AddJob(ctx, &batch.Job{ID: "job1", PoolInfo: &batch.PoolInformation{PoolID: "p"}}))
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		require.NoError(t, b.client.AddTask(ctx, "job1", &batch.Task{ID: id, CommandLine: "true"}))
	}
	var ids []string
	for tk, err := range b.client.IterTasks(ctx, "job1", &ListOptions{MaxResults: 2}) {
		require.NoError(t, err)
		ids = append(ids, tk.ID)
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, ids)
	pages := 0
	for _, r := range b.srv.Requests() {
		if r.Method == http.MethodGet && r.Path == "/jobs/job1/tasks" {
			pages++
			require.Equal(t, "2", r.Query.Get("maxresults"))
		}
	}
	require.Equal(t, 3, pages)
}

func TestClientRetriesGetOnUnavailable(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	rs := newRecordingServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"code":"ServerBusy","message":{"lang":"en-US","value":"busy"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"pool1","state":"active"}`)
	})
	c := newClient(t, rs.URL)
	p, err := c.GetPool(context.Background(), "pool1")
	require.NoError(t, err)
	require.Equal(t, "pool1", p.ID)
	require.Len(t, rs.requests(), 2)

	// A POST is not retried: the error comes back as it is.
	rs2 := newRecordingServer(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"code":"ServerBusy","message":{"lang":"en-US","value":"busy\nRequestId:x"}}`)
	})
	err = newClient(t, rs2.URL).AddPool(context.Background(), &batch.Pool{ID: "p", VMSize: "v"})
	var e *batch.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "ServerBusy", e.Code)
	require.Equal(t, "busy", e.Message)
	require.Len(t, rs2.requests(), 1)
}

func TestParseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   batch.Error
	}{
		{name: "BatchError", status: 404,
			body: `{"odata.metadata":"x","code":"JobNotFound","message":{"lang":"en-US","value":"The specified job does not exist.\nRequestId:abc\nTime:2024-01-01T00:00:00Z"}}`,
			want: batch.Error{Status: 404, Code: "JobNotFound", Message: "The specified job does not exist."}},
		{name: "Values", status: 400,
			body: `{"code":"InvalidPropertyValue","message":{"lang":"en-US","value":"bad\r\nRequestId:x"},"values":[{"key":"PropertyName","value":"vmSize"},{"key":"Reason","value":"not supported"}]}`,
			want: batch.Error{Status: 400, Code: "InvalidPropertyValue", Message: "bad",
				Values: []batch.KV{{Key: "PropertyName", Value: "vmSize"}, {Key: "Reason", Value: "not supported"}}}},
		{name: "StringMessage", status: 409, body: `{"code":"PoolExists","message":"exists\nmore"}`,
			want: batch.Error{Status: 409, Code: "PoolExists", Message: "exists"}},
		{name: "EmptyBody", status: 409, body: ``,
			want: batch.Error{Status: 409, Code: "Conflict", Message: "the service answered 409 Conflict"}},
		{name: "PlainText", status: 502, body: "upstream down\n<html>",
			want: batch.Error{Status: 502, Code: "BadGateway", Message: "upstream down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseError(tt.status, []byte(tt.body))
			require.Equal(t, tt.want, *got)
		})
	}
}

func TestClientErrorsMatchSentinels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.client.GetJob(ctx, "nope")
	require.ErrorIs(t, err, batch.ErrJobNotFound)
	var e *batch.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "The specified job does not exist.", e.Message)

	err = b.client.AddPool(ctx, &batch.Pool{ID: "bad id!", VMSize: "x"})
	require.ErrorAs(t, err, &e)
	require.Equal(t, "InvalidPropertyValue", e.Code)
	require.Equal(t, "id", e.Value("PropertyName"))

	var buf bytes.Buffer
	require.NoError(t, b.client.AddJob(ctx, &batch.Job{ID: "j", PoolInfo: &batch.PoolInformation{PoolID: "p"}}))
	require.NoError(t, b.client.AddTask(ctx, "j", &batch.Task{ID: "t", CommandLine: "true"}))
	err = b.client.GetTaskFile(ctx, "j", "t", "stdout.txt", &buf)
	require.ErrorAs(t, err, &e)
	require.Equal(t, "FileNotFound", e.Code)
}

func TestTaskBodyIsNotHTMLEscaped(t *testing.T) {
	t.Parallel()
	b, err := jsonMarshal(&batch.Task{ID: "t", CommandLine: "a && b > c"})
	require.NoError(t, err)
	require.Contains(t, string(b), `"a && b > c"`)
	var back batch.Task
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, "a && b > c", back.CommandLine)
}
