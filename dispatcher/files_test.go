package dispatcher_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// TestTaskLogCopyServedWhenNodeIsGone: the stdout.txt and stderr.txt of a
// completed task whose node no longer answers come from the copies the
// node kept in the object store.
func TestTaskLogCopyServedWhenNodeIsGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "standard_d2s_v3"})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "Job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs/Job1/tasks", map[string]any{"id": "T1", "commandLine": "echo hi"})
	require.Equal(t, 201, code, string(body))

	// Act as a node that ran the task, kept its stdout and went away.
	ctx := context.Background()
	logs, err := blob.NewObjectStore(b.js, protocol.TaskLogsContainer, blob.Config{Account: account})
	require.NoError(t, err)
	require.NoError(t, logs.Create(ctx))
	_, err = logs.Put(ctx, protocol.TaskLogBlob("Job1", "T1", "stdout.txt"), strings.NewReader("hello world\n"), 12, nil)
	require.NoError(t, err)
	cons, err := topology.EnsurePoolConsumer(ctx, b.js, account, "pool1", 0, false)
	require.NoError(t, err)
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	for m := range msgs.Messages() {
		var tm protocol.TaskMessage
		require.NoError(t, json.Unmarshal(m.Data(), &tm))
		exit := 0
		ev := protocol.TaskEvent{Type: protocol.EventCompleted, Account: account, JobID: tm.JobID, TaskID: tm.Task.ID,
			PoolID: tm.PoolID, NodeID: "gone-node", Attempt: tm.Attempt, Delivery: 1,
			StartTime: time.Now(), EndTime: time.Now(), ExitCode: &exit, TaskRootDir: "/x"}
		data, err := json.Marshal(ev)
		require.NoError(t, err)
		_, err = b.js.Publish(ctx, topology.EventSubject(account, "job1", "t1"), data)
		require.NoError(t, err)
		require.NoError(t, m.Ack())
	}
	require.Eventually(t, func() bool {
		_, body := b.do(t, "GET", "/jobs/Job1/tasks/T1", nil)
		return strings.Contains(string(body), `"state":"completed"`)
	}, 10*time.Second, 20*time.Millisecond)

	code, body = b.do(t, "GET", "/jobs/Job1/tasks/T1/files/stdout.txt", nil)
	require.Equal(t, 200, code, string(body))
	require.Equal(t, "hello world\n", string(body))
	code, body = b.do(t, "GET", "/jobs/Job1/tasks/T1/files/stderr.txt", nil)
	require.Equal(t, 200, code, string(body))
	require.Empty(t, body, "no copy: the log was empty")

	req, err := http.NewRequest("GET", b.url+"/jobs/Job1/tasks/T1/files/stdout.txt?api-version=2022-10-01.16.0", nil)
	require.NoError(t, err)
	req.Header.Set("ocp-range", "bytes=6-10")
	auth.Sign(req, account, b.key, -1)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	part, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "world", string(part))

	req, err = http.NewRequest("HEAD", b.url+"/jobs/Job1/tasks/T1/files/stdout.txt?api-version=2022-10-01.16.0", nil)
	require.NoError(t, err)
	auth.Sign(req, account, b.key, -1)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "12", resp.Header.Get("Content-Length"))

	// Other files of a gone node stay unavailable.
	code, body = b.do(t, "GET", "/jobs/Job1/tasks/T1/files/wd%2Fout.txt", nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(body), "TaskFilesUnavailable")
}
