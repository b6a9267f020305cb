package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/natch-io/natch/shared/batch"
)

// Filterable properties of job schedules, as Azure allows them.
var scheduleFilterable = []string{"id", "displayName", "state", "stateTransitionTime", "previousState",
	"creationTime", "lastModified", "schedule/doNotRunUntil", "schedule/doNotRunAfter",
	"executionInfo/nextRunTime", "executionInfo/endTime", "executionInfo/recentJob/id",
	"jobSpecification/poolInfo/poolId"}

// --- job patch / update / listFromJobSchedule

func (s *Server) jobPatch(ctx context.Context, r *request) (*response, error) {
	return s.jobChange(ctx, r, false)
}

func (s *Server) jobUpdate(ctx context.Context, r *request) (*response, error) {
	return s.jobChange(ctx, r, true)
}

func (s *Server) jobChange(ctx context.Context, r *request, replace bool) (*response, error) {
	var body batch.JobPatch
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	j, err := s.svc.PatchJob(ctx, r.account, r.jobID, &body, replace, r.cond)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, etag: j.ETag, lastModified: j.LastModified, location: s.jobURL(r, j.ID)}, nil
}

func (s *Server) jobListFromSchedule(ctx context.Context, r *request) (*response, error) {
	return s.page(r, "jobs", jobFilterable, func(after string, yield func(listed) bool) error {
		return s.svc.ScanScheduleJobs(ctx, r.account, r.scheduleID, revision(after), func(j *batch.Job, n uint64) (bool, error) {
			b, err := entity(r.base, "jobs", s.renderJob(r, j))
			if err != nil {
				return false, err
			}
			return yield(listed{token: strconv.FormatUint(n, 10), json: b}), nil
		})
	})
}

// --- job schedules

func (s *Server) scheduleURL(r *request, id string) string { return r.base + "/jobschedules/" + id }

func (s *Server) renderSchedule(r *request, js *batch.JobSchedule) *batch.JobSchedule {
	c := *js
	c.URL = s.scheduleURL(r, js.ID)
	if ei := js.ExecutionInfo; ei != nil && ei.RecentJob != nil {
		e := *ei
		e.RecentJob = &batch.RecentJob{ID: ei.RecentJob.ID, URL: s.jobURL(r, ei.RecentJob.ID)}
		c.ExecutionInfo = &e
	}
	return &c
}

func (s *Server) scheduleAdd(ctx context.Context, r *request) (*response, error) {
	var js batch.JobSchedule
	if err := batch.Decode(r.body, &js); err != nil {
		return nil, err
	}
	created, err := s.svc.AddJobSchedule(ctx, r.account, &js)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusCreated, etag: created.ETag, lastModified: created.LastModified,
		location: s.scheduleURL(r, created.ID)}, nil
}

func (s *Server) scheduleGet(ctx context.Context, r *request) (*response, error) {
	js, err := s.svc.GetJobSchedule(ctx, r.account, r.scheduleID)
	if err != nil {
		return nil, err
	}
	return s.selected(r, "jobschedules", s.renderSchedule(r, &js.JobSchedule), js.ETag, js.LastModified)
}

func (s *Server) scheduleExists(ctx context.Context, r *request) (*response, error) {
	js, err := s.svc.GetJobSchedule(ctx, r.account, r.scheduleID)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, etag: js.ETag, lastModified: js.LastModified}, nil
}

func (s *Server) scheduleList(ctx context.Context, r *request) (*response, error) {
	return s.page(r, "jobschedules", scheduleFilterable, func(after string, yield func(listed) bool) error {
		return s.svc.ScanJobSchedules(ctx, r.account, revision(after), func(js *batch.JobSchedule, rev uint64) (bool, error) {
			b, err := entity(r.base, "jobschedules", s.renderSchedule(r, js))
			if err != nil {
				return false, err
			}
			return yield(listed{token: strconv.FormatUint(rev, 10), json: b, id: lower(js.ID)}), nil
		})
	})
}

func (s *Server) schedulePatch(ctx context.Context, r *request) (*response, error) {
	return s.scheduleChange(ctx, r, false)
}

func (s *Server) scheduleUpdate(ctx context.Context, r *request) (*response, error) {
	return s.scheduleChange(ctx, r, true)
}

func (s *Server) scheduleChange(ctx context.Context, r *request, replace bool) (*response, error) {
	var body batch.JobSchedulePatch
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	js, err := s.svc.PatchJobSchedule(ctx, r.account, r.scheduleID, &body, replace, r.cond)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, etag: js.ETag, lastModified: js.LastModified, location: s.scheduleURL(r, js.ID)}, nil
}

func (s *Server) scheduleDelete(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.DeleteJobSchedule(ctx, r.account, r.scheduleID, r.cond); err != nil {
		return nil, err
	}
	return empty(http.StatusAccepted), nil
}

func (s *Server) scheduleDisable(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.DisableJobSchedule(ctx, r.account, r.scheduleID, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent, location: s.scheduleURL(r, r.scheduleID)}, nil
}

func (s *Server) scheduleEnable(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.EnableJobSchedule(ctx, r.account, r.scheduleID, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent, location: s.scheduleURL(r, r.scheduleID)}, nil
}

func (s *Server) scheduleTerminate(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.TerminateJobSchedule(ctx, r.account, r.scheduleID, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.scheduleURL(r, r.scheduleID)}, nil
}
