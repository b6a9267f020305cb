package producertest

import (
	"net/http"

	"github.com/natch-io/natch/shared/batch"
)

// stopResize answers pool stopResize: the targets become the nodes the
// pool has and it turns steady.
func (s *Server) stopResize(id string) (int, any, error) {
	p, ok := s.pools[batch.Key(id)]
	if !ok {
		return 0, nil, batch.ErrPoolNotFound
	}
	p.TargetDedicatedNodes = batch.Int(len(s.nodes[batch.Key(id)]))
	p.AllocationState = batch.AllocSteady
	return http.StatusAccepted, nil, nil
}

// removeNodes answers pool removeNodes: the named nodes are gone at once
// and the dedicated target drops by as many.
func (s *Server) removeNodes(id string, body []byte) (int, any, error) {
	p, ok := s.pools[batch.Key(id)]
	if !ok {
		return 0, nil, batch.ErrPoolNotFound
	}
	var r batch.NodeRemove
	if err := decode(body, &r); err != nil {
		return 0, nil, err
	}
	if err := batch.ValidateNodeRemove(&r); err != nil {
		return 0, nil, err
	}
	nodes := s.nodes[batch.Key(id)]
	for _, name := range r.NodeList {
		i := s.nodeIndex(id, name)
		if i < 0 {
			return 0, nil, batch.ErrNodeNotFound
		}
		nodes = append(nodes[:i], nodes[i+1:]...)
		s.nodes[batch.Key(id)] = nodes
	}
	p.TargetDedicatedNodes = batch.Int(max(batch.IntOr(p.TargetDedicatedNodes, 0)-len(r.NodeList), 0))
	return http.StatusAccepted, nil, nil
}

// nodeAction answers the node operations disablescheduling,
// enablescheduling, reboot and reimage: the first two set the node's
// schedulingState, the others leave it idle (the fake restarts at once).
func (s *Server) nodeAction(poolID, nodeID, action string, body []byte) (int, any, error) {
	if _, ok := s.pools[batch.Key(poolID)]; !ok {
		return 0, nil, batch.ErrPoolNotFound
	}
	i := s.nodeIndex(poolID, nodeID)
	if i < 0 {
		return 0, nil, batch.ErrNodeNotFound
	}
	n := &s.nodes[batch.Key(poolID)][i]
	switch action {
	case "disablescheduling":
		var d batch.NodeDisableScheduling
		if err := decode(body, &d); err != nil {
			return 0, nil, err
		}
		if _, err := batch.NodeOption("nodeDisableSchedulingOption", d.NodeDisableSchedulingOption, false); err != nil {
			return 0, nil, err
		}
		n.SchedulingState = "disabled"
		return http.StatusOK, nil, nil
	case "enablescheduling":
		n.SchedulingState = "enabled"
		return http.StatusOK, nil, nil
	case "reboot", "reimage":
		n.State = batch.NodeIdle
		return http.StatusAccepted, nil, nil
	}
	return 0, nil, errNotFound
}

// nodeIndex is the index of a pool's node, or -1.
func (s *Server) nodeIndex(poolID, nodeID string) int {
	for i, n := range s.nodes[batch.Key(poolID)] {
		if batch.EqualFold(n.ID, nodeID) {
			return i
		}
	}
	return -1
}
