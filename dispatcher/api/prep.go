package api

import (
	"context"
	"path"

	"github.com/natch-io/natch/shared/batch"
)

// prepFilterable are the properties job listPreparationAndReleaseTaskStatus
// filters on.
var prepFilterable = []string{"poolId", "nodeId",
	"jobPreparationTaskExecutionInfo/state", "jobPreparationTaskExecutionInfo/result",
	"jobPreparationTaskExecutionInfo/exitCode", "jobPreparationTaskExecutionInfo/retryCount",
	"jobReleaseTaskExecutionInfo/state", "jobReleaseTaskExecutionInfo/result", "jobReleaseTaskExecutionInfo/exitCode"}

// prepOps are the job preparation and release task operations.
func (s *Server) prepOps() map[string]opFunc {
	return map[string]opFunc{
		"job.listpreparationandreleasetaskstatus": s.jobPrepReleaseStatus,
	}
}

// jobPrepReleaseStatus serves job listPreparationAndReleaseTaskStatus: one
// entry per node that ran the job's preparation task.
func (s *Server) jobPrepReleaseStatus(ctx context.Context, r *request) (*response, error) {
	entries, err := s.svc.ListPrepReleaseStatus(ctx, r.account, r.jobID)
	if err != nil {
		return nil, err
	}
	items := make([]listed, 0, len(entries))
	for _, e := range entries {
		st := e.Value
		nodeURL := r.base + "/pools/" + st.PoolID + "/nodes/" + st.NodeID
		filesURL := func(dir string) string {
			if dir == "" {
				return ""
			}
			return nodeURL + "/files/workitems/" + st.JobID + "/job-1/" + path.Base(dir)
		}
		v := batch.JobPreparationAndReleaseTaskExecutionInformation{PoolID: st.PoolID, NodeID: st.NodeID, NodeURL: nodeURL,
			JobPreparationTaskExecutionInfo: st.Preparation, JobReleaseTaskExecutionInfo: st.Release}
		if p := v.JobPreparationTaskExecutionInfo; p != nil {
			p.TaskRootDirectoryURL = filesURL(p.TaskRootDirectory)
		}
		if rl := v.JobReleaseTaskExecutionInfo; rl != nil {
			rl.TaskRootDirectoryURL = filesURL(rl.TaskRootDirectory)
		}
		b, err := entity(r.base, "jobpreparationandreleasetaskstatus", &v)
		if err != nil {
			return nil, err
		}
		items = append(items, listed{token: e.Key, json: b})
	}
	return s.page(r, "jobpreparationandreleasetaskstatus", prepFilterable, sliceSource(items))
}
