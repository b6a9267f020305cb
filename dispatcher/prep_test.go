package dispatcher_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

func TestJobPrepReleaseValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x",
		"startTask": map[string]any{"commandLine": "true", "resourceFiles": []any{map[string]any{"httpUrl": "http://x/y"}}}})
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "startTask.resourceFiles[0].filePath")
	code, body = b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))

	job := func(prep, release map[string]any) map[string]any {
		j := map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}}
		if prep != nil {
			j["jobPreparationTask"] = prep
		}
		if release != nil {
			j["jobReleaseTask"] = release
		}
		return j
	}
	for _, tc := range []struct {
		prep, release map[string]any
		property      string
	}{
		{prep: map[string]any{"id": "p"}, property: "jobPreparationTask.commandLine"},
		{release: map[string]any{"commandLine": "x"}, property: "jobPreparationTask"},
		{prep: map[string]any{"commandLine": "x"}, release: map[string]any{"commandLine": "y", "maxWallClockTime": "PT16M"},
			property: "jobReleaseTask.maxWallClockTime"},
	} {
		code, body := b.do(t, "POST", "/jobs", job(tc.prep, tc.release))
		require.Equal(t, 400, code, string(body))
		require.Contains(t, string(body), `"value":"`+tc.property+`"`)
	}
	code, body = b.do(t, "POST", "/jobs", job(map[string]any{"commandLine": "x"}, map[string]any{"commandLine": "y"}))
	require.Equal(t, 201, code, string(body))
	var got batch.Job
	_, body = b.do(t, "GET", "/jobs/job1", nil)
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, "jobpreparation", got.JobPreparationTask.ID)
	require.True(t, *got.JobPreparationTask.WaitForSuccess)
	require.Equal(t, "jobrelease", got.JobReleaseTask.ID)
	require.Equal(t, batch.Duration(15*time.Minute), *got.JobReleaseTask.MaxWallClockTime)

	code, body = b.do(t, "POST", "/jobs/job1/tasks", map[string]any{"id": "jobpreparation", "commandLine": "x"})
	require.Equal(t, 409, code)
	require.Contains(t, string(body), "TaskIdSameAsJobPreparationTask")

	code, _ = b.do(t, "POST", "/jobs", map[string]any{"id": "plain", "poolInfo": map[string]any{"poolId": "pool1"}})
	require.Equal(t, 201, code)
	code, body = b.do(t, "GET", "/jobs/plain/jobpreparationandreleasetaskstatus", nil)
	require.Equal(t, 409, code)
	require.Contains(t, string(body), "JobPreparationTaskNotSpecified")
	code, body = b.do(t, "GET", "/jobs/nosuchjob/jobpreparationandreleasetaskstatus", nil)
	require.Equal(t, 404, code)
	require.Contains(t, string(body), "JobNotFound")
}

// fakeNode answers job release commands for a node id, after delay.
type fakeNode struct {
	mu       sync.Mutex
	releases []protocol.JobRelease // requests received
	answered int
}

func newFakeNode(t *testing.T, b *testBundle, nodeID string, delay time.Duration) *fakeNode {
	f := &fakeNode{}
	sub, err := b.nc.Subscribe(topology.NodeSubject(account, nodeID, protocol.CmdJobRelease), func(m *nats.Msg) {
		var req protocol.JobRelease
		require.NoError(t, json.Unmarshal(m.Data, &req))
		f.mu.Lock()
		f.releases = append(f.releases, req)
		f.mu.Unlock()
		time.AfterFunc(delay, func() { // the release task ran
			f.mu.Lock()
			f.answered++
			f.mu.Unlock()
			_ = m.Respond(nil)
		})
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

func (f *fakeNode) released() []protocol.JobRelease {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]protocol.JobRelease(nil), f.releases...)
}

func TestJobPrepStatusAndRelease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x"})
	require.Equal(t, 201, code, string(body))
	w := newFakeWorker(t, b, "pool1")
	code, body = b.do(t, "POST", "/jobs", map[string]any{"id": "Job1", "poolInfo": map[string]any{"poolId": "pool1"},
		"jobPreparationTask": map[string]any{"commandLine": "prep"},
		"jobReleaseTask":     map[string]any{"commandLine": "release", "maxWallClockTime": "PT1M"}})
	require.Equal(t, 201, code, string(body))
	code, body = b.do(t, "POST", "/jobs/Job1/tasks", map[string]any{"id": "t1", "commandLine": "true"})
	require.Equal(t, 201, code, string(body))

	// The ready message carries the preparation task; "preparing" shows.
	msgs := w.next(1, 5*time.Second)
	require.Len(t, msgs, 1)
	tm := taskOf(t, msgs[0])
	require.NotNil(t, tm.JobPreparation)
	require.Equal(t, "prep", tm.JobPreparation.CommandLine)
	ev := protocol.TaskEvent{Type: protocol.EventPreparing, Account: account, JobID: "Job1", TaskID: "t1", PoolID: "pool1",
		NodeID: "node1", Delivery: 1, StartTime: time.Now()}
	data, err := json.Marshal(ev)
	require.NoError(t, err)
	_, err = b.js.Publish(context.Background(), topology.EventSubject(account, "job1", "t1"), data)
	require.NoError(t, err)
	task := b.waitTaskState(t, "Job1", "t1", batch.TaskPreparing)
	require.Equal(t, "node1", task.NodeInfo.NodeID)
	require.Eventually(t, func() bool {
		var c batch.TaskCountsResult
		_, body := b.do(t, "GET", "/jobs/Job1/taskcounts", nil)
		return json.Unmarshal(body, &c) == nil && c.TaskCounts.Running == 1 && c.TaskCounts.Active == 0
	}, 5*time.Second, 20*time.Millisecond, "a preparing task counts as running")
	w.report(msgs[0], exit(0))
	b.waitTaskState(t, "Job1", "t1", batch.TaskCompleted)

	// Two nodes ran the preparation task (the workers write these entries).
	kv, err := b.js.KeyValue(context.Background(), topology.JobPrepBucket)
	require.NoError(t, err)
	for _, node := range []string{"node1", "node2"} {
		st := protocol.JobPrepStatus{Account: account, JobID: "Job1", PoolID: "pool1", NodeID: node,
			Preparation: &batch.JobPreparationTaskExecutionInformation{State: "completed", Result: "success",
				ExitCode: batch.Int(0), StartTime: batch.At(time.Now()), EndTime: batch.At(time.Now()),
				TaskRootDirectory: "/nodes/" + node + "/workitems/Job1/job-1/jobpreparation"}}
		data, err := json.Marshal(st)
		require.NoError(t, err)
		_, err = kv.Put(context.Background(), topology.JobPrepKey(account, "job1", node), data)
		require.NoError(t, err)
	}
	code, body = b.do(t, "GET", "/jobs/Job1/jobpreparationandreleasetaskstatus", nil)
	require.Equal(t, 200, code, string(body))
	var list struct {
		Value []batch.JobPreparationAndReleaseTaskExecutionInformation `json:"value"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Value, 2)
	require.Equal(t, "node1", list.Value[0].NodeID)
	require.Equal(t, "pool1", list.Value[0].PoolID)
	require.Equal(t, b.url+"/pools/pool1/nodes/node1", list.Value[0].NodeURL)
	p := list.Value[0].JobPreparationTaskExecutionInfo
	require.Equal(t, "completed", p.State)
	require.Equal(t, "success", p.Result)
	require.Equal(t, b.url+"/pools/pool1/nodes/node1/files/workitems/Job1/job-1/jobpreparation", p.TaskRootDirectoryURL)
	require.Nil(t, list.Value[0].JobReleaseTaskExecutionInfo)

	code, body = b.do(t, "GET", "/jobs/Job1/jobpreparationandreleasetaskstatus?$filter="+
		strings.ReplaceAll("nodeId eq 'node2'", " ", "%20")+"&$select=nodeId", nil)
	require.Equal(t, 200, code, string(body))
	require.Contains(t, string(body), `"nodeId":"node2"`)
	require.NotContains(t, string(body), "node1")
	require.NotContains(t, string(body), "poolId")
	code, body = b.do(t, "GET", "/jobs/Job1/jobpreparationandreleasetaskstatus?maxresults=1", nil)
	require.Equal(t, 200, code, string(body))
	require.Contains(t, string(body), "odata.nextLink")

	// The same over the NATS API.
	req, err := json.Marshal(protocol.APIRequest{JobID: "Job1", Query: map[string][]string{"$filter": {"nodeId eq 'node1'"}}})
	require.NoError(t, err)
	m, err := b.nc.Request(topology.APISubject(account, "job.listpreparationandreleasetaskstatus"), req, 5*time.Second)
	require.NoError(t, err)
	var resp protocol.APIResponse
	require.NoError(t, json.Unmarshal(m.Data, &resp))
	require.Equal(t, 200, resp.Status, string(resp.Body))
	require.NoError(t, json.Unmarshal(resp.Body, &list))
	require.Len(t, list.Value, 1)
	require.Equal(t, "node1", list.Value[0].NodeID)

	// Terminate: both nodes are asked to release; the job completes only
	// after they answered.
	n1 := newFakeNode(t, b, "node1", time.Second)
	n2 := newFakeNode(t, b, "node2", time.Second)
	code, body = b.do(t, "POST", "/jobs/Job1/terminate", nil)
	require.Equal(t, 202, code, string(body))
	require.Eventually(t, func() bool { return len(n1.released()) == 1 && len(n2.released()) == 1 }, 10*time.Second, 10*time.Millisecond)
	_, body = b.do(t, "GET", "/jobs/Job1", nil)
	require.Equal(t, "terminating", jsonField(body, "state"), "the job waits for its release tasks")
	require.Eventually(t, func() bool {
		_, body := b.do(t, "GET", "/jobs/Job1", nil)
		return jsonField(body, "state") == "completed"
	}, 10*time.Second, 20*time.Millisecond)
	rel := n1.released()[0]
	require.Equal(t, "Job1", rel.JobID)
	require.Equal(t, "release", rel.Release.CommandLine)
	require.Equal(t, batch.Duration(time.Minute), *rel.Release.MaxWallClockTime)

	// Delete: the status entries go with the job.
	code, _ = b.do(t, "DELETE", "/jobs/Job1", nil)
	require.Equal(t, 202, code)
	require.Eventually(t, func() bool {
		code, _ := b.do(t, "GET", "/jobs/Job1", nil)
		return code == 404
	}, 10*time.Second, 20*time.Millisecond)
	_, err = kv.Get(context.Background(), topology.JobPrepKey(account, "job1", "node1"))
	require.Error(t, err)
}
