package dispatcher_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bearer sends a request with a bearer token instead of a SharedKey signature.
func (b *testBundle) bearer(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.url+path+"?api-version=2022-10-01.16.0", rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json; odata=minimalmetadata")
	return send(t, req)
}

func TestJobManagerTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x", "taskSlotsPerNode": 4})
	require.Equal(t, 201, code, string(body))
	w := newFakeWorker(t, b, "pool1")

	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"},
		"jobManagerTask": map[string]any{"commandLine": "true"}})
	require.Equal(t, 400, code, "a job manager needs an id")
	require.Contains(t, string(body), "jobManagerTask.id")
	code, _ = b.do(t, "GET", "/jobs/job1", nil)
	require.Equal(t, 404, code, "a refused job is not stored")

	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"},
		"jobManagerTask": map[string]any{"id": "jm", "commandLine": "./split.sh",
			"authenticationTokenSettings": map[string]any{"access": []string{"job"}}}})
	require.Equal(t, 201, code, string(body))
	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "other", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code)

	var job struct {
		JobManagerTask struct {
			KillJobOnCompletion bool `json:"killJobOnCompletion"`
			RunExclusive        bool `json:"runExclusive"`
		} `json:"jobManagerTask"`
	}
	_, body = b.do(t, "GET", "/jobs/job1", nil)
	require.NoError(t, json.Unmarshal(body, &job))
	require.True(t, job.JobManagerTask.KillJobOnCompletion, "Azure's defaults are filled in")
	require.True(t, job.JobManagerTask.RunExclusive)

	msgs := w.next(1, 5*time.Second)
	require.Len(t, msgs, 1)
	tm := taskOf(t, msgs[0])
	require.Equal(t, "jm", tm.Task.ID)
	require.Equal(t, 4, *tm.Task.RequiredSlots, "runExclusive takes the whole node")
	require.Len(t, tm.ServiceEnvironment, 1)
	require.Equal(t, "AZ_BATCH_AUTHENTICATION_TOKEN", tm.ServiceEnvironment[0].Name)
	token := tm.ServiceEnvironment[0].Value
	w.report(msgs[0], nil) // running

	// The token adds tasks to its own job, and nothing else.
	code, body = b.bearer(t, token, "POST", "/jobs/job1/tasks", map[string]any{"id": "t1", "commandLine": "true"})
	require.Equal(t, 201, code, string(body))
	code, body = b.bearer(t, token, "GET", "/jobs/job1/tasks/t1", nil)
	require.Equal(t, 200, code, string(body))
	for _, forbidden := range [][2]string{{"GET", "/pools"}, {"GET", "/jobs"}, {"POST", "/jobs/other/tasks"}, {"DELETE", "/jobs/job1"}} {
		code, body = b.bearer(t, token, forbidden[0], forbidden[1], map[string]any{"id": "x", "commandLine": "true"})
		require.Equal(t, 403, code, forbidden)
		require.Contains(t, string(body), "InsufficientAccountPermissions", forbidden)
	}
	code, body = b.bearer(t, token[:len(token)-2]+"xx", "GET", "/jobs/job1", nil)
	require.Equal(t, 403, code)
	require.Contains(t, string(body), "AuthenticationFailed")

	// The job manager's completion ends the job (killJobOnCompletion).
	for _, m := range w.next(2, time.Second) {
		_ = m.Nak()
	}
	w.report(msgs[0], exit(0))
	require.Eventually(t, func() bool {
		_, body := b.do(t, "GET", "/jobs/job1", nil)
		return jsonField(body, "state") == "completed" && jsonPath(body, "executionInfo", "terminateReason") == "JMComplete"
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "completed", b.task(t, "job1", "t1").State, "the job's other tasks end with it")
}
