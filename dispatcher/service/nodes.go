package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// nodeCommandTimeout bounds a node command's round trip; an upload of the
// agent logs gets uploadLogsTimeout (the worker gives up a little earlier).
const (
	nodeCommandTimeout = 10 * time.Second
	uploadLogsTimeout  = time.Minute
)

// Scheduling states of a compute node.
const (
	SchedulingEnabled  = "enabled"
	SchedulingDisabled = "disabled"
)

// Node states of a restarting node.
const (
	NodeRebooting = "rebooting"
	NodeReimaging = "reimaging"
)

// RemoteLoginPort is the port natch reports for remote login: SSH's. natch
// runs no SSH server of its own; it is the port of the machine's.
const RemoteLoginPort = 22

// ErrNodeUnreachable is the error of a node command that the node did not
// answer: its agent is not running or not connected to NATS.
var ErrNodeUnreachable = &batch.Error{Status: 409, Code: "NodeNotReady",
	Message: "The node is not reachable: its agent is not running or not connected to NATS."}

// ErrNodeUsersUnsupported is the answer to the node user operations
// (addUser, updateUser, deleteUser): a natch node is an agent process on a
// machine natch does not administer, so it cannot create OS users.
var ErrNodeUsersUnsupported = &batch.Error{Status: 409, Code: "OperationNotValidOnNode",
	Message: "natch compute nodes cannot create, update or delete user accounts: a node is a natch worker agent on a machine natch does not administer. Use the machine's own tools to manage its users."}

// nodeRecord reads a node's record after checking its pool.
func (s *Service) nodeRecord(ctx context.Context, account, poolID, nodeID string) (*protocol.NodeRecord, error) {
	if _, err := s.GetPool(ctx, account, poolID); err != nil {
		return nil, err
	}
	if batch.ValidID("nodeId", nodeID) != nil {
		return nil, batch.ErrNodeNotFound
	}
	n, _, err := s.st.Nodes.Get(ctx, topology.NodeKey(account, batch.Key(poolID), batch.Key(nodeID)))
	return n, err
}

// nodeCommand sends a command to a node and decodes its JSON reply into
// reply (nil: none expected). A failure the node reports comes back as the
// Azure error it names.
func (s *Service) nodeCommand(ctx context.Context, account, nodeID, cmd string, body, reply any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	timeout := nodeCommandTimeout
	if cmd == protocol.CmdUploadLogs {
		timeout = uploadLogsTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := s.nc.RequestWithContext(ctx, topology.NodeSubject(account, batch.Key(nodeID), cmd), b)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return ErrNodeUnreachable
	case err != nil:
		return fmt.Errorf("node %s %s: %w", nodeID, cmd, err)
	}
	if code := m.Header.Get(protocol.ErrorHeader); code != "" {
		status := 400
		switch code {
		case "NodeBeingRebooted", "NodeBeingReimaged", "OperationNotValidOnNode":
			status = 409
		case "InternalError":
			status = 500
		}
		return batch.Errorf(status, code, "%s", string(m.Data))
	}
	if reply == nil {
		return nil
	}
	if err := json.Unmarshal(m.Data, reply); err != nil {
		return fmt.Errorf("node %s %s: decode reply: %w", nodeID, cmd, err)
	}
	return nil
}

// checkNodeState refuses an operation on a node that cannot take it: one
// that is starting, restarting, leaving, or not heartbeating.
func checkNodeState(n *protocol.NodeRecord, restart bool) error {
	switch n.State {
	case batch.NodeIdle, batch.NodeRunning:
		return nil
	case NodeRebooting:
		if restart {
			return batch.Errorf(409, "NodeBeingRebooted", "The node %s is being rebooted.", n.ID)
		}
		return nil
	case NodeReimaging:
		if restart {
			return batch.Errorf(409, "NodeBeingReimaged", "The node %s is being reimaged.", n.ID)
		}
		return nil
	case batch.NodeCreating:
		return batch.Errorf(409, "NodeBeingCreated", "The node %s is being created.", n.ID)
	case batch.NodeStarting:
		return batch.Errorf(409, "NodeBeingStarted", "The node %s is starting.", n.ID)
	}
	return (&batch.Error{Status: 409, Code: "OperationNotValidOnNode",
		Message: fmt.Sprintf("The operation is not valid on node %s in state %s.", n.ID, n.State)}).With("NodeState", n.State)
}

// setNodeRecord applies a change the node made to its record at once, so
// that a read right after the operation shows it; the node's own next
// heartbeat writes the same.
func (s *Service) setNodeRecord(ctx context.Context, account, poolID, nodeID string, mutate func(*protocol.NodeRecord) bool) error {
	_, _, err := s.st.Nodes.Update(ctx, topology.NodeKey(account, batch.Key(poolID), batch.Key(nodeID)), func(n *protocol.NodeRecord) error {
		if n.State == batch.NodeLeaving || !mutate(n) {
			return state.ErrStop
		}
		return nil
	})
	if errors.Is(err, batch.ErrNodeNotFound) {
		return nil // it left in between: the operation did happen
	}
	return err
}

// DisableNodeScheduling stops a node taking tasks; option (requeue,
// terminate, taskcompletion) says what happens to its running tasks.
func (s *Service) DisableNodeScheduling(ctx context.Context, account, poolID, nodeID string, body *batch.NodeDisableScheduling) error {
	opt, err := batch.NodeOption("nodeDisableSchedulingOption", body.NodeDisableSchedulingOption, false)
	if err != nil {
		return err
	}
	return s.setScheduling(ctx, account, poolID, nodeID, false, opt)
}

// EnableNodeScheduling lets a node take tasks again.
func (s *Service) EnableNodeScheduling(ctx context.Context, account, poolID, nodeID string) error {
	return s.setScheduling(ctx, account, poolID, nodeID, true, "")
}

func (s *Service) setScheduling(ctx context.Context, account, poolID, nodeID string, enable bool, opt string) error {
	n, err := s.nodeRecord(ctx, account, poolID, nodeID)
	if err != nil {
		return err
	}
	if err := checkNodeState(n, false); err != nil {
		return err
	}
	if err := s.nodeCommand(ctx, account, n.ID, protocol.CmdScheduling,
		protocol.SchedulingRequest{Enable: enable, Option: opt}, nil); err != nil {
		return err
	}
	want := SchedulingDisabled
	if enable {
		want = SchedulingEnabled
	}
	return s.setNodeRecord(ctx, account, poolID, nodeID, func(r *protocol.NodeRecord) bool {
		if r.SchedulingState == want {
			return false
		}
		r.SchedulingState = want
		return true
	})
}

// RebootNode restarts a node's agent (reimage: and wipes its directories);
// option (requeue, terminate, taskcompletion, retaineddata) says what
// happens to its running tasks. The node shows rebooting (reimaging) until
// it takes tasks again.
func (s *Service) RebootNode(ctx context.Context, account, poolID, nodeID, option string, reimage bool) error {
	prop := "nodeRebootOption"
	if reimage {
		prop = "nodeReimageOption"
	}
	opt, err := batch.NodeOption(prop, option, true)
	if err != nil {
		return err
	}
	n, err := s.nodeRecord(ctx, account, poolID, nodeID)
	if err != nil {
		return err
	}
	if err := checkNodeState(n, true); err != nil {
		return err
	}
	if err := s.nodeCommand(ctx, account, n.ID, protocol.CmdReboot,
		protocol.RebootRequest{Option: opt, Reimage: reimage}, nil); err != nil {
		return err
	}
	st := NodeRebooting
	if reimage {
		st = NodeReimaging
	}
	now := batch.At(s.st.Now())
	return s.setNodeRecord(ctx, account, poolID, nodeID, func(r *protocol.NodeRecord) bool {
		if r.State != batch.NodeIdle && r.State != batch.NodeRunning {
			return false // the node got there first (or is back already)
		}
		r.State, r.StateTransitionTime = st, now
		return true
	})
}

// NodeRemoteLoginSettings returns where to log in to a node: its IP
// address and SSH's port.
func (s *Service) NodeRemoteLoginSettings(ctx context.Context, account, poolID, nodeID string) (*batch.RemoteLoginSettings, error) {
	n, err := s.nodeRecord(ctx, account, poolID, nodeID)
	if err != nil {
		return nil, err
	}
	if n.IPAddress == "" {
		return nil, batch.Errorf(409, "OperationNotValidOnNode", "The node %s has not reported its IP address yet.", n.ID)
	}
	return &batch.RemoteLoginSettings{RemoteLoginIPAddress: n.IPAddress, RemoteLoginPort: RemoteLoginPort}, nil
}

// UploadNodeLogs has a node upload its agent logs to a container.
func (s *Service) UploadNodeLogs(ctx context.Context, account, poolID, nodeID string, body *batch.UploadBatchServiceLogs) (*batch.UploadBatchServiceLogsResult, error) {
	if err := batch.ValidateUploadLogs(body); err != nil {
		return nil, err
	}
	if len(body.IdentityReference) > 0 && string(body.IdentityReference) != "null" {
		return nil, batch.InvalidProperty("identityReference",
			"natch nodes have no managed identity: give a containerUrl with a SAS token, or nats://<container>")
	}
	n, err := s.nodeRecord(ctx, account, poolID, nodeID)
	if err != nil {
		return nil, err
	}
	req := protocol.UploadLogsRequest{ContainerURL: body.ContainerURL, StartTime: body.StartTime.Time}
	if body.EndTime != nil {
		req.EndTime = body.EndTime.Time
	}
	var res protocol.UploadLogsResult
	if err := s.nodeCommand(ctx, account, n.ID, protocol.CmdUploadLogs, req, &res); err != nil {
		var be *batch.Error
		if errors.As(err, &be) && be.Code == "InvalidInput" {
			return nil, batch.InvalidProperty("containerUrl", be.Message)
		}
		return nil, err
	}
	return &batch.UploadBatchServiceLogsResult{VirtualDirectoryName: res.VirtualDirectoryName,
		NumberOfFilesUploaded: res.NumberOfFilesUploaded}, nil
}

// NodeUser answers the node user operations, after checking that the
// pool and the node exist: natch nodes cannot manage OS users.
func (s *Service) NodeUser(ctx context.Context, account, poolID, nodeID string) error {
	if _, err := s.nodeRecord(ctx, account, poolID, nodeID); err != nil {
		return err
	}
	return ErrNodeUsersUnsupported
}

// StopResize stops a pool's resize: the scaler cancels the starts under
// way, sets the targets to the nodes that exist, records a ResizeStopped
// resize error and turns the pool steady. A steady pool is left alone.
func (s *Service) StopResize(ctx context.Context, account, id string, cond Condition) error {
	if err := batch.ValidID("poolId", id); err != nil {
		return batch.ErrPoolNotFound
	}
	_, _, err := s.st.Pools.Update(ctx, topology.PoolKey(account, batch.Key(id)), func(p *batch.Pool) error {
		if err := cond.Check(p.ETag, p.LastModified); err != nil {
			return err
		}
		switch {
		case p.State == batch.PoolDeleting:
			return batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.")
		case p.EnableAutoScale != nil && *p.EnableAutoScale:
			return batch.Errorf(409, "PoolIsAutoScaleEnabled", "The specified pool has autoscale enabled; its formula decides its size.")
		case p.AllocationState != batch.AllocResizing:
			return state.ErrStop
		}
		p.ETag, p.LastModified = s.st.Stamp()
		p.AllocationState, p.AllocationStateTransitionTime = batch.AllocStopping, batch.At(s.st.Now())
		return nil
	})
	return err
}

// RemoveNodes removes exactly the named nodes from a pool: each is told to
// stop taking tasks (its running tasks handled per the deallocation
// option), its record is marked for removal (the scaler then removes it),
// and the pool's target drops by one for each.
//
// The marks go first and the target second: a scaler round that falls in
// between sees the marked nodes gone and the old target, and may start a
// replacement, which the next round (with the new target) cancels first.
// The other order would let a round pick other nodes to remove.
func (s *Service) RemoveNodes(ctx context.Context, account, poolID string, body *batch.NodeRemove, cond Condition) error {
	if err := batch.ValidID("poolId", poolID); err != nil {
		return batch.ErrPoolNotFound
	}
	if err := batch.ValidateNodeRemove(body); err != nil {
		return err
	}
	pool, err := s.GetPool(ctx, account, poolID)
	if err != nil {
		return err
	}
	if err := cond.Check(pool.ETag, pool.LastModified); err != nil {
		return err
	}
	if err := removable(pool); err != nil {
		return err
	}
	opt := body.NodeDeallocationOption
	if opt == protocol.OptionRetainedData {
		opt = protocol.OptionTaskCompletion
	}
	// Check every node before changing anything.
	var nodes []*protocol.NodeRecord
	seen := map[string]bool{}
	for _, id := range body.NodeList {
		if seen[batch.Key(id)] {
			continue
		}
		seen[batch.Key(id)] = true
		n, _, err := s.st.Nodes.Get(ctx, topology.NodeKey(account, batch.Key(poolID), batch.Key(id)))
		if errors.Is(err, batch.ErrNodeNotFound) {
			return (&batch.Error{Status: 404, Code: "NodeNotFound",
				Message: fmt.Sprintf("The node %s does not exist in pool %s.", id, poolID)}).With("NodeId", id)
		}
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	var dedicated, low int
	for _, n := range nodes {
		if n.RemoveOption != "" || n.State == batch.NodeLeaving {
			continue // already on its way out
		}
		// Stop it taking tasks first; a node that does not answer is
		// removed all the same.
		err := s.nodeCommand(ctx, account, n.ID, protocol.CmdScheduling, protocol.SchedulingRequest{Option: opt}, nil)
		if err != nil && !errors.Is(err, ErrNodeUnreachable) {
			s.log.WarnContext(ctx, "remove node: disable scheduling", "node_id", n.ID, "err", err)
		}
		marked := false
		_, _, err = s.st.Nodes.Update(ctx, topology.NodeKey(account, batch.Key(poolID), batch.Key(n.ID)), func(r *protocol.NodeRecord) error {
			if r.RemoveOption != "" || r.State == batch.NodeLeaving {
				return state.ErrStop
			}
			r.RemoveOption, marked = opt, true
			return nil
		})
		if errors.Is(err, batch.ErrNodeNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !marked {
			continue
		}
		if n.IsDedicated {
			dedicated++
		} else {
			low++
		}
	}
	_, _, err = s.st.Pools.Update(ctx, topology.PoolKey(account, batch.Key(poolID)), func(p *batch.Pool) error {
		if err := removable(p); err != nil {
			return err
		}
		p.ETag, p.LastModified = s.st.Stamp()
		p.TargetDedicatedNodes = batch.Int(max(batch.IntOr(p.TargetDedicatedNodes, 0)-dedicated, 0))
		p.TargetLowPriorityNodes = batch.Int(max(batch.IntOr(p.TargetLowPriorityNodes, 0)-low, 0))
		if body.ResizeTimeout != nil {
			p.ResizeTimeout = body.ResizeTimeout
		}
		p.ResizeErrors = nil
		if dedicated+low > 0 && p.AllocationState != batch.AllocResizing {
			p.AllocationState, p.AllocationStateTransitionTime = batch.AllocResizing, batch.At(s.st.Now())
		}
		return nil
	})
	return err
}

// removable refuses removeNodes on a pool that is being deleted or whose
// resize is being stopped. Unlike Azure, which wants a steady pool, natch
// also accepts a resizing one: the named nodes leave and the target drops
// for them whatever else is under way.
func removable(p *batch.Pool) error {
	switch {
	case p.State == batch.PoolDeleting:
		return batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.")
	case p.AllocationState == batch.AllocStopping:
		return batch.Errorf(409, "PoolBeingResized", "The specified pool's resize is being stopped.")
	}
	return nil
}
