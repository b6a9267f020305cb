package producer_test

import (
	"context"
	"encoding/base64"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/producer"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
)

// scheduleClient is what both clients offer for job schedules.
type scheduleClient interface {
	AddPool(ctx context.Context, p *batch.Pool) error
	AddJob(ctx context.Context, j *batch.Job) error
	GetJob(ctx context.Context, id string) (*batch.Job, error)
	PatchJob(ctx context.Context, id string, p *batch.JobPatch) error
	UpdateJob(ctx context.Context, id string, p *batch.JobPatch) error
	TerminateJob(ctx context.Context, id, reason string) error
	ListScheduleJobs(ctx context.Context, scheduleID string, opts *producer.ListOptions) ([]batch.Job, error)
	AddJobSchedule(ctx context.Context, js *batch.JobSchedule) error
	GetJobSchedule(ctx context.Context, id string) (*batch.JobSchedule, error)
	ListJobSchedules(ctx context.Context, opts *producer.ListOptions) ([]batch.JobSchedule, error)
	PatchJobSchedule(ctx context.Context, id string, p *batch.JobSchedulePatch) error
	UpdateJobSchedule(ctx context.Context, id string, p *batch.JobSchedulePatch) error
	DeleteJobSchedule(ctx context.Context, id string) error
	DisableJobSchedule(ctx context.Context, id string) error
	EnableJobSchedule(ctx context.Context, id string) error
	TerminateJobSchedule(ctx context.Context, id string) error
}

// Job schedules and job patch/update through both clients against a real
// dispatcher (REST and the NATS API share its op table).
func TestScheduleOperations(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	d := dispatcher.New(nc, js, dispatcher.Config{Listener: ln, MinRecurrence: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := d.Prepare(ctx)
	require.NoError(t, err)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	_, err = svc.EnsureAccount(ctx, "acct", func() string { return key })
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	rest, err := producer.New(producer.Config{URL: "http://" + ln.Addr().String(), Account: "acct", Key: key})
	require.NoError(t, err)
	viaNATS, err := producer.NewNATS(producer.NATSConfig{Conn: nc, Account: "acct"})
	require.NoError(t, err)
	require.NoError(t, rest.AddPool(ctx, &batch.Pool{ID: "p", VMSize: "x"}))
	require.NoError(t, rest.AddPool(ctx, &batch.Pool{ID: "p2", VMSize: "x"}))

	for name, c := range map[string]scheduleClient{"rest": rest, "nats": viaNATS} {
		id := "s-" + name
		require.NoError(t, c.AddJobSchedule(ctx, &batch.JobSchedule{ID: id,
			Schedule:         &batch.Schedule{RecurrenceInterval: batch.D(time.Second)},
			JobSpecification: &batch.JobSpecification{PoolInfo: &batch.PoolInformation{PoolID: "p"}}}))
		err := c.AddJobSchedule(ctx, &batch.JobSchedule{ID: id, Schedule: &batch.Schedule{},
			JobSpecification: &batch.JobSpecification{PoolInfo: &batch.PoolInformation{PoolID: "p"}}})
		require.ErrorIs(t, err, batch.ErrJobScheduleExists, name)

		var jobs []batch.Job
		require.Eventually(t, func() bool {
			jobs, err = c.ListScheduleJobs(ctx, id, nil)
			require.NoError(t, err)
			return len(jobs) == 1
		}, 10*time.Second, 20*time.Millisecond, name)
		jobID := batch.ScheduleJobID(id, 1)
		require.Equal(t, jobID, jobs[0].ID)
		require.NoError(t, c.TerminateJob(ctx, jobID, ""))
		require.Eventually(t, func() bool {
			jobs, err = c.ListScheduleJobs(ctx, id, &producer.ListOptions{MaxResults: 1})
			require.NoError(t, err)
			return len(jobs) == 2
		}, 10*time.Second, 20*time.Millisecond, "%s: the next recurrence after job-1 completed", name)

		require.NoError(t, c.PatchJobSchedule(ctx, id, &batch.JobSchedulePatch{Metadata: []batch.NameValue{{Name: "a", Value: "1"}}}))
		got, err := c.GetJobSchedule(ctx, id)
		require.NoError(t, err)
		require.Equal(t, []batch.NameValue{{Name: "a", Value: "1"}}, got.Metadata)
		require.Equal(t, batch.ScheduleJobID(id, 2), got.ExecutionInfo.RecentJob.ID)
		require.NoError(t, c.UpdateJobSchedule(ctx, id, &batch.JobSchedulePatch{Schedule: &batch.Schedule{DoNotRunUntil: batch.At(time.Now().Add(time.Hour))},
			JobSpecification: &batch.JobSpecification{PoolInfo: &batch.PoolInformation{PoolID: "p"}}}))
		got, err = c.GetJobSchedule(ctx, id)
		require.NoError(t, err)
		require.Nil(t, got.Metadata)
		require.Nil(t, got.Schedule.RecurrenceInterval)

		require.NoError(t, c.DisableJobSchedule(ctx, id))
		list, err := c.ListJobSchedules(ctx, &producer.ListOptions{Filter: "state eq 'disabled' and id eq '" + id + "'"})
		require.NoError(t, err)
		require.Len(t, list, 1, name)
		require.NoError(t, c.EnableJobSchedule(ctx, id))

		// job patch and update on the schedule's active job.
		active := batch.ScheduleJobID(id, 2)
		require.NoError(t, c.PatchJob(ctx, active, &batch.JobPatch{Priority: batch.Int(9)}))
		j, err := c.GetJob(ctx, active)
		require.NoError(t, err)
		require.Equal(t, 9, *j.Priority)
		err = c.UpdateJob(ctx, active, &batch.JobPatch{PoolInfo: &batch.PoolInformation{PoolID: "p2"}})
		require.ErrorContains(t, err, "JobNotDisabled", name)
		require.NoError(t, c.UpdateJob(ctx, active, &batch.JobPatch{PoolInfo: &batch.PoolInformation{PoolID: "p"}}))
		j, err = c.GetJob(ctx, active)
		require.NoError(t, err)
		require.Equal(t, 0, *j.Priority, "update resets priority")

		require.NoError(t, c.TerminateJobSchedule(ctx, id))
		require.Eventually(t, func() bool {
			got, err := c.GetJobSchedule(ctx, id)
			require.NoError(t, err)
			return got.State == batch.ScheduleCompleted
		}, 10*time.Second, 20*time.Millisecond, name)
		require.NoError(t, c.DeleteJobSchedule(ctx, id))
		require.Eventually(t, func() bool {
			_, err := c.GetJobSchedule(ctx, id)
			return err != nil
		}, 10*time.Second, 20*time.Millisecond, name)
		_, err = c.GetJobSchedule(ctx, id)
		require.ErrorIs(t, err, batch.ErrJobScheduleNotFound)
		_, err = c.GetJob(ctx, active)
		require.ErrorIs(t, err, batch.ErrJobNotFound)
	}
}
