package api

import (
	"context"
	"net/http"
)

// nodePreempt is natch's preempt operation (no Azure equivalent): it evicts
// a low-priority node as a spot eviction would. 202 Accepted: the scaler
// kills the node and replaces it.
func (s *Server) nodePreempt(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.PreemptNode(ctx, r.account, r.poolID, r.nodeID); err != nil {
		return nil, err
	}
	return empty(http.StatusAccepted), nil
}
