package state

import (
	"bytes"
	"encoding/json"
	"github.com/natch-io/natch/shared/jsonfill"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/natch-io/natch/shared/batch"
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
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		var rec TaskRecord
		jsonfill.Fill(&rec, r, []float64{0.1, 0.5, 0.9, 1}[i%4])
		want, err := json.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encode(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
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
