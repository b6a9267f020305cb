package scaler

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// drainTimeout bounds how long a node has to confirm that it stopped
// taking tasks.
const drainTimeout = 10 * time.Second

// drain starts the departure of a node that scale-in chose when the pool's
// nodeDeallocationOption is not requeue: the node stops taking tasks and
// deals with its running ones as the option says (terminate: ended with
// TaskEnded at once; taskcompletion and retaineddata: left to finish), and
// its record names the option, so that Decide lets it leave at once or once
// it is idle. It reports false when the node should leave now instead: the
// option is requeue (what a stopping worker does with its tasks), the node
// is already draining, or it does not answer.
func (s *Scaler) drain(ctx context.Context, log *slog.Logger, ps *poolState, id string) bool {
	opt := protocol.OptionRequeue
	if ps.rec != nil && ps.rec.NodeDeallocationOption != "" {
		opt = ps.rec.NodeDeallocationOption
	}
	if opt == protocol.OptionRetainedData {
		opt = protocol.OptionTaskCompletion // natch keeps no data past a node's departure
	}
	e, ok := ps.nodes[batch.Key(id)]
	if opt == protocol.OptionRequeue || !ok || e.rec.RemoveOption != "" {
		return false
	}
	body, _ := json.Marshal(protocol.SchedulingRequest{Option: opt}) // a struct of strings: cannot fail
	cctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	m, err := s.js.Conn().RequestWithContext(cctx, topology.NodeSubject(ps.account, batch.Key(id), protocol.CmdScheduling), body)
	if err != nil || m.Header.Get(protocol.ErrorHeader) != "" {
		log.WarnContext(ctx, "scale-in: node did not stop taking tasks; it leaves now", "node_id", id, "err", err)
		return false
	}
	key := topology.NodeKey(ps.account, ps.pool, batch.Key(id))
	rec, rev, err := s.casNode(ctx, key, func(r *protocol.NodeRecord) bool {
		if r.RemoveOption != "" || r.State == batch.NodeLeaving {
			return false
		}
		r.RemoveOption = opt
		return true
	})
	if err != nil {
		log.ErrorContext(ctx, "scale-in: mark node", "node_id", id, "err", err)
		return false
	}
	if rec != nil {
		ps.nodes[batch.Key(id)] = nodeEntry{rec: *rec, rev: rev}
	}
	log.InfoContext(ctx, "scale-in: node drains before it leaves", "node_id", id, "option", opt)
	return true
}
