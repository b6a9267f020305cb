package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/jsonfill"
)

func benchRecord() *TaskRecord {
	now := batch.At(time.Now())
	code := 0
	r := &TaskRecord{PoolKey: "pool", Attempt: 0, Delivery: 1}
	r.ID, r.CommandLine, r.URL, r.ETag = "task-000123", "true", "", "0x8DD1234567890AB"
	r.CreationTime, r.LastModified, r.StateTransitionTime = now, now, now
	r.State, r.PreviousState = batch.TaskCompleted, batch.TaskRunning
	r.ExecutionInfo = &batch.TaskExecutionInformation{StartTime: now, EndTime: now, ExitCode: &code, Result: batch.ResultSuccess}
	r.NodeInfo = &batch.ComputeNodeInformation{AffinityID: "TVM:node-1", PoolID: "pool", NodeID: "node-1", TaskRootDirectory: "/tmp/x/workitems/job/job-1/task-000123"}
	r.Stats = &batch.TaskStatistics{StartTime: *now, LastUpdateTime: *now}
	return r
}

func BenchmarkTaskRecordMarshal(b *testing.B) {
	r := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTaskRecordUnmarshal(b *testing.B) {
	data, _ := json.Marshal(benchRecord())
	b.ReportAllocs()
	for b.Loop() {
		var r TaskRecord
		if err := json.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTaskRecordAppendJSONMatchesEncodingJSON(t *testing.T) {
	jsonfill.Check(t, 3000, 5, func(r *TaskRecord) ([]byte, error) { return encode(r) })
}

func BenchmarkTaskRecordAppendJSON(b *testing.B) {
	r := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode(r); err != nil {
			b.Fatal(err)
		}
	}
}
