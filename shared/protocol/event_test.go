package protocol

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

func TestTaskEventAppendJSON(t *testing.T) {
	t.Parallel()
	zero, seven := 0, 7
	start := time.Date(2026, 11, 28, 5, 1, 2, 123456789, time.UTC)
	events := []TaskEvent{
		{},
		{Type: EventCompleted, Account: "acct", JobID: "Job-1", TaskID: "t_2", PoolID: "pool", NodeID: "tvmps_1",
			Attempt: 3, Delivery: 2, StartTime: start, EndTime: start.Add(time.Millisecond), ExitCode: &zero,
			TaskRootDir: "/dev/shm/root/workitems/Job-1/job-1/t_2", UserCPU: time.Millisecond, KernelCPU: 3 * time.Microsecond},
		{Type: EventCompleted, JobID: "j", TaskID: "t", ExitCode: &seven, StartTime: start.In(time.FixedZone("x", 3600)),
			FailureInfo: &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: "FailureExitCode", Message: `exit "7" <&>`},
			TaskRootDir: "/tmp/ü dir/\"quoted\"\\\n\t<&>\x01"},
	}
	for _, ev := range events {
		got := ev.AppendJSON(nil)
		want, err := json.Marshal(&ev)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(got))
		var back TaskEvent
		require.NoError(t, json.Unmarshal(got, &back))
		require.True(t, back.StartTime.Equal(ev.StartTime))
		require.True(t, back.EndTime.Equal(ev.EndTime))
		back.StartTime, back.EndTime = ev.StartTime, ev.EndTime
		require.Equal(t, ev, back)
	}
	require.Equal(t, `x{"type":"","account":"","jobId":"","taskId":"","poolId":"","nodeId":"","attempt":0,"delivery":0}`,
		string(events[0].AppendJSON([]byte("x"))), "appends")
}

func BenchmarkTaskEventJSON(b *testing.B) {
	zero := 0
	ev := TaskEvent{Type: EventCompleted, Account: "acct", JobID: "job1", TaskID: "t-123", PoolID: "pool", NodeID: "tvmps_1",
		Attempt: 0, Delivery: 1, StartTime: time.Now(), EndTime: time.Now(), ExitCode: &zero,
		TaskRootDir: "/dev/shm/root/workitems/job1/job-1/t-123", UserCPU: time.Millisecond}
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = ev.AppendJSON(buf[:0])
		}
	})
	b.Run("Marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(&ev)
		}
	})
}
