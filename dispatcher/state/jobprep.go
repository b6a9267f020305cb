package state

import (
	"context"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// ErrJobPrepNotRun is the 404 of a node that did not run a job's
// preparation task.
var ErrJobPrepNotRun = &batch.Error{Status: 404, Code: "JobPreparationTaskNotRunOnNode",
	Message: "The job preparation task was not run on the compute node."}

// JobPrep returns the repository of job preparation and release task
// states (topology.JobPrepBucket, keys topology.JobPrepKey), which the
// workers write. It binds the bucket on each call: its users are rare.
func (s *Store) JobPrep(ctx context.Context) (*Repo[protocol.JobPrepStatus], error) {
	r, err := bindRepo(ctx, s.js, topology.JobPrepBucket, ErrJobPrepNotRun, nil)
	if err != nil {
		return nil, err
	}
	return &Repo[protocol.JobPrepStatus]{repo: r}, nil
}
