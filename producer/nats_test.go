package producer

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

type natsBundle struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	client *NATSClient
	mu     sync.Mutex
	seen   []string // "op" of each API request
	reqs   []protocol.APIRequest
}

func setupNATS(t *testing.T, cfg NATSConfig) *natsBundle {
	t.Helper()
	nc, js := natstest.Connect(t, natstest.Server(t))
	cfg.Conn, cfg.Account = nc, "testacct"
	c, err := NewNATS(cfg)
	require.NoError(t, err)
	return &natsBundle{nc: nc, js: js, client: c}
}

func reply(t *testing.T, m *nats.Msg, status int, body any) {
	var raw json.RawMessage
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		raw = b
	}
	data, err := json.Marshal(protocol.APIResponse{Status: status, Body: raw})
	require.NoError(t, err)
	require.NoError(t, m.Respond(data))
}

func notFound(code, msg string) batch.WireError {
	return batch.WireError{Code: code, Message: batch.WireMessage{Lang: "en-US", Value: msg + "\nRequestId:x\nTime:y"}}
}

// respond runs a tiny stand-in for the dispatcher's NATS API.
func (b *natsBundle) respond(t *testing.T) {
	t.Helper()
	sub, err := b.nc.Subscribe(topology.APISubject("testacct", ">"), func(m *nats.Msg) {
		op := strings.TrimPrefix(m.Subject, "natch.api.testacct.")
		var req protocol.APIRequest
		require.NoError(t, json.Unmarshal(m.Data, &req))
		b.mu.Lock()
		b.seen = append(b.seen, op)
		b.reqs = append(b.reqs, req)
		b.mu.Unlock()
		switch op {
		case "pool.add":
			var p batch.Pool
			require.NoError(t, json.Unmarshal(req.Body, &p))
			reply(t, m, 201, nil)
		case "pool.get":
			if req.PoolID != "pool1" {
				reply(t, m, 404, notFound("PoolNotFound", "The specified pool does not exist."))
				return
			}
			reply(t, m, 200, batch.Pool{ID: "pool1", State: "active"})
		case "job.terminate":
			reply(t, m, 202, nil)
		case "job.taskcounts":
			reply(t, m, 200, batch.TaskCountsResult{TaskCounts: batch.TaskCounts{Active: 1, Completed: 2, Succeeded: 2}})
		case "task.list":
			if req.Query.Get("$skiptoken") == "" {
				reply(t, m, 200, map[string]any{"value": []batch.Task{{ID: "t1"}, {ID: "t2"}},
					"odata.nextLink": "http://127.0.0.1:1/jobs/" + req.JobID + "/tasks?api-version=x&%24filter=state+eq+%27active%27&%24skiptoken=2"})
				return
			}
			require.Equal(t, "state eq 'active'", req.Query.Get("$filter"))
			require.Empty(t, req.Query.Get("api-version"))
			reply(t, m, 200, map[string]any{"value": []batch.Task{{ID: "t3"}}})
		case "task.addcollection":
			var c struct {
				Value []batch.Task `json:"value"`
			}
			require.NoError(t, json.Unmarshal(req.Body, &c))
			res := make([]batch.TaskAddResult, 0, len(c.Value))
			for _, tk := range c.Value {
				res = append(res, batch.TaskAddResult{Status: AddSuccess, TaskID: tk.ID})
			}
			reply(t, m, 200, map[string]any{"value": res})
		case "task.submiterrors":
			reply(t, m, 200, map[string]any{"value": []map[string]any{
				{"taskId": "bad-1", "error": batch.WireError{Code: "TaskExists", Message: batch.WireMessage{Lang: "en-US", Value: "The specified task already exists.\nRequestId:x"}}},
				{"taskId": "bad-2", "error": batch.WireError{Code: "MissingRequiredProperty", Message: batch.WireMessage{Lang: "en-US", Value: "A required property was not specified in the request body."},
					Values: []batch.KV{{Key: "PropertyName", Value: "commandLine"}}}},
			}})
		default:
			reply(t, m, 400, notFound("UnsupportedOperation", "no "+op))
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, b.nc.Flush())
}

func TestNATSClientOperations(t *testing.T) {
	t.Parallel()
	b := setupNATS(t, NATSConfig{})
	b.respond(t)
	ctx := context.Background()
	c := b.client

	require.NoError(t, c.AddPool(ctx, &batch.Pool{ID: "pool1", VMSize: "standard_d2s_v3"}))
	p, err := c.GetPool(ctx, "pool1")
	require.NoError(t, err)
	require.Equal(t, "active", p.State)
	_, err = c.GetPool(ctx, "pool2")
	require.ErrorIs(t, err, batch.ErrPoolNotFound)
	var e *batch.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 404, e.Status)
	require.Equal(t, "The specified pool does not exist.", e.Message)

	require.NoError(t, c.TerminateJob(ctx, "job1", "enough"))
	counts, err := c.TaskCounts(ctx, "job1")
	require.NoError(t, err)
	require.Equal(t, 2, counts.TaskCounts.Succeeded)

	tasks, err := c.ListTasks(ctx, "job1", &ListOptions{Filter: "state eq 'active'"})
	require.NoError(t, err)
	require.Len(t, tasks, 3)
	require.Equal(t, "t3", tasks[2].ID)

	results, err := c.AddTasks(ctx, "job1", makeTasks(120, 1))
	require.NoError(t, err)
	require.Len(t, results, 120)
	require.Equal(t, "task-119", results[119].TaskID)

	errs, err := c.SubmitErrors(ctx, "job1")
	require.NoError(t, err)
	require.Len(t, errs, 2)
	require.Equal(t, "bad-1", errs[0].TaskID)
	require.ErrorIs(t, errs[0], batch.ErrTaskExists)
	require.Equal(t, "task bad-1: TaskExists: The specified task already exists.", errs[0].Error())
	require.Equal(t, "commandLine", errs[1].Err.Value("PropertyName"))

	b.mu.Lock()
	defer b.mu.Unlock()
	require.Equal(t, []string{"pool.add", "pool.get", "pool.get", "job.terminate", "job.taskcounts", "task.list", "task.list",
		"task.addcollection", "task.addcollection", "task.submiterrors"}, b.seen)
	require.Equal(t, "job1", b.reqs[3].JobID)
	require.JSONEq(t, `{"terminateReason":"enough"}`, string(b.reqs[3].Body))
}

func TestNATSClientNoResponders(t *testing.T) {
	t.Parallel()
	b := setupNATS(t, NATSConfig{Timeout: 2 * time.Second})
	_, err := b.client.GetJob(context.Background(), "job1")
	require.ErrorIs(t, err, nats.ErrNoResponders)
	require.ErrorContains(t, err, "natch.api.testacct.job.get")
}

func createSubmitStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: topology.SubmitStream,
		Subjects: []string{"natch.submit.>"}, Storage: jetstream.MemoryStorage, Duplicates: 2 * time.Minute})
	require.NoError(t, err)
	return s
}

// streamMsgs reads every message of the stream, by sequence.
func streamMsgs(t *testing.T, s jetstream.Stream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

func TestSubmitTasksLandsOnceEach(t *testing.T) {
	t.Parallel()
	b := setupNATS(t, NATSConfig{MaxInFlight: 64})
	stream := createSubmitStream(t, b.js)
	ctx := context.Background()

	tasks := makeTasks(2000, 20)
	res, err := b.client.SubmitTasks(ctx, "Job1", tasks)
	require.NoError(t, err)
	require.Equal(t, 2000, res.Accepted)
	require.Empty(t, res.Duplicates)

	msgs := streamMsgs(t, stream)
	require.Len(t, msgs, 2000)
	seen := map[string]bool{}
	for _, m := range msgs {
		require.Equal(t, "natch.submit.testacct.job1", m.Subject)
		id := m.Header.Get(jetstream.MsgIDHeader)
		require.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
		var tk batch.Task
		require.NoError(t, json.Unmarshal(m.Data, &tk))
		require.Equal(t, topology.SubmitMsgID("testacct", "job1", tk.ID), id)
		require.Equal(t, "echo "+strings.Repeat("x", 20), tk.CommandLine)
	}
	for _, tk := range tasks {
		require.True(t, seen[topology.SubmitMsgID("testacct", "job1", tk.ID)], tk.ID)
	}

	// Submitting again is safe: the stream acks duplicates and stores nothing.
	res, err = b.client.SubmitTasks(ctx, "job1", tasks[:10])
	require.NoError(t, err)
	require.Equal(t, 10, res.Accepted)
	require.Len(t, res.Duplicates, 10)
	require.Len(t, streamMsgs(t, stream), 2000)
}

// retrySignal is a slog handler that closes a channel on the first retry warning.
type retrySignal struct {
	once sync.Once
	ch   chan struct{}
}

func (h *retrySignal) Enabled(context.Context, slog.Level) bool { return true }
func (h *retrySignal) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h *retrySignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *retrySignal) WithGroup(string) slog.Handler      { return h }

// A publish that fails (here: no stream yet, so no ack) is retried until
// the stream takes it; nothing is lost and nothing is stored twice.
func TestSubmitTasksRetriesFailedPublishes(t *testing.T) {
	t.Parallel()
	sig := &retrySignal{ch: make(chan struct{})}
	b := setupNATS(t, NATSConfig{MaxInFlight: 16, AckTimeout: time.Second, Logger: slog.New(sig)})
	var (
		res SubmitResult
		err error
		wg  sync.WaitGroup
	)
	tasks := makeTasks(100, 1)
	wg.Go(func() { res, err = b.client.SubmitTasks(context.Background(), "job1", tasks) })
	select {
	case <-sig.ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no publish was retried")
	}
	stream := createSubmitStream(t, b.js)
	wg.Wait()
	require.NoError(t, err)
	require.Equal(t, 100, res.Accepted)
	msgs := streamMsgs(t, stream)
	require.Len(t, msgs, 100)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	require.Len(t, ids, 100)
}

func TestSubmitTasksChecksIDs(t *testing.T) {
	t.Parallel()
	b := setupNATS(t, NATSConfig{})
	ctx := context.Background()
	_, err := b.client.SubmitTasks(ctx, "job1", []batch.Task{{ID: "a", CommandLine: "x"}, {ID: "A", CommandLine: "x"}})
	var e *batch.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, `task id "A" appears more than once`, e.Value("Reason"))
	_, err = b.client.SubmitTasks(ctx, "job1", []batch.Task{{ID: "no spaces", CommandLine: "x"}})
	require.ErrorAs(t, err, &e)
	require.Equal(t, "InvalidPropertyValue", e.Code)
	_, err = b.client.SubmitTasks(ctx, "job.1", nil)
	require.ErrorAs(t, err, &e)
	require.Equal(t, "jobId", e.Value("PropertyName"))
}

func TestSubmitTasksStopsOnCancel(t *testing.T) {
	t.Parallel()
	b := setupNATS(t, NATSConfig{MaxInFlight: 4, AckTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.client.SubmitTasks(ctx, "job1", makeTasks(50, 1))
	require.ErrorIs(t, err, context.Canceled)
}
