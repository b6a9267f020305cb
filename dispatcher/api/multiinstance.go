package api

import (
	"context"
	"encoding/json"

	"github.com/natch-io/natch/shared/batch"
)

// taskListSubtasks is task.listSubtasks (GET
// /jobs/{jobId}/tasks/{taskId}/subtasksinfo): the subtasks of a
// multi-instance task's current attempt.
func (s *Server) taskListSubtasks(ctx context.Context, r *request) (*response, error) {
	subs, err := s.svc.ListSubtasks(ctx, r.account, r.jobID, r.taskID)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(struct {
		Metadata string                     `json:"odata.metadata"`
		Value    []batch.SubtaskInformation `json:"value"`
	}{r.base + "/$metadata#subtaskinfo", subs})
	if err != nil {
		return nil, err
	}
	return &response{status: 200, body: b}, nil
}
