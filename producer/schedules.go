package producer

import (
	"context"
	"errors"

	"github.com/natch-io/natch/shared/batch"
)

// scheduleOps are the job schedule operations and job patch/update, the
// same over REST and NATS: Client and NATSClient embed them over their
// transport.
type scheduleOps struct{ t transport }

// PatchJob changes the properties of a job that p supplies (PATCH
// /jobs/{id}, op job.patch). The pool may change only while the job is
// disabled.
func (o scheduleOps) PatchJob(ctx context.Context, id string, p *batch.JobPatch) error {
	if p == nil {
		return errors.New("patch job: nil patch")
	}
	return o.t.roundTrip(ctx, ptr(opPatchJob(id, p, false)), nil)
}

// UpdateJob replaces the updatable properties of a job (PUT /jobs/{id},
// op job.update): poolInfo is required and omitted properties return to
// their defaults.
func (o scheduleOps) UpdateJob(ctx context.Context, id string, p *batch.JobPatch) error {
	if p == nil {
		return errors.New("update job: nil update")
	}
	return o.t.roundTrip(ctx, ptr(opPatchJob(id, p, true)), nil)
}

// ListScheduleJobs returns the jobs a job schedule created, matching opts
// (GET /jobschedules/{id}/jobs, op job.listfromjobschedule).
func (o scheduleOps) ListScheduleJobs(ctx context.Context, scheduleID string, opts *ListOptions) ([]batch.Job, error) {
	return collect(iterate[batch.Job](ctx, o.t, opListScheduleJobs(scheduleID, opts)))
}

// AddJobSchedule creates a job schedule (POST /jobschedules, 201; op
// jobschedule.add).
func (o scheduleOps) AddJobSchedule(ctx context.Context, js *batch.JobSchedule) error {
	if js == nil {
		return errors.New("add job schedule: nil job schedule")
	}
	return o.t.roundTrip(ctx, ptr(opAddJobSchedule(js)), nil)
}

// GetJobSchedule returns a job schedule (GET /jobschedules/{id}).
func (o scheduleOps) GetJobSchedule(ctx context.Context, id string) (*batch.JobSchedule, error) {
	return get[batch.JobSchedule](ctx, o.t, opGetJobSchedule(id))
}

// ListJobSchedules returns every job schedule matching opts, following
// odata.nextLink.
func (o scheduleOps) ListJobSchedules(ctx context.Context, opts *ListOptions) ([]batch.JobSchedule, error) {
	return collect(iterate[batch.JobSchedule](ctx, o.t, opListJobSchedules(opts)))
}

// PatchJobSchedule changes what p supplies of a job schedule (PATCH
// /jobschedules/{id}).
func (o scheduleOps) PatchJobSchedule(ctx context.Context, id string, p *batch.JobSchedulePatch) error {
	if p == nil {
		return errors.New("patch job schedule: nil patch")
	}
	return o.t.roundTrip(ctx, ptr(opPatchJobSchedule(id, p, false)), nil)
}

// UpdateJobSchedule replaces a job schedule's schedule, job specification
// and metadata (PUT /jobschedules/{id}).
func (o scheduleOps) UpdateJobSchedule(ctx context.Context, id string, p *batch.JobSchedulePatch) error {
	if p == nil {
		return errors.New("update job schedule: nil update")
	}
	return o.t.roundTrip(ctx, ptr(opPatchJobSchedule(id, p, true)), nil)
}

// DeleteJobSchedule starts deleting a job schedule and its jobs (DELETE
// /jobschedules/{id}, 202).
func (o scheduleOps) DeleteJobSchedule(ctx context.Context, id string) error {
	return o.t.roundTrip(ctx, ptr(opDeleteJobSchedule(id)), nil)
}

// DisableJobSchedule stops a job schedule from creating jobs (POST
// /jobschedules/{id}/disable, 204).
func (o scheduleOps) DisableJobSchedule(ctx context.Context, id string) error {
	return o.t.roundTrip(ctx, ptr(opJobScheduleAction(id, "disable")), nil)
}

// EnableJobSchedule lets a disabled job schedule create jobs again (POST
// /jobschedules/{id}/enable, 204).
func (o scheduleOps) EnableJobSchedule(ctx context.Context, id string) error {
	return o.t.roundTrip(ctx, ptr(opJobScheduleAction(id, "enable")), nil)
}

// TerminateJobSchedule ends a job schedule and terminates its active job
// (POST /jobschedules/{id}/terminate, 202).
func (o scheduleOps) TerminateJobSchedule(ctx context.Context, id string) error {
	return o.t.roundTrip(ctx, ptr(opJobScheduleAction(id, "terminate")), nil)
}
