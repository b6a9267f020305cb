package producer

import (
	"context"
	"errors"
	"net/http"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// Node and pool operations of natch issue 3, for both clients.

func opNodeCommand(op, pool, node, action string, body any) call {
	return call{op: op, method: http.MethodPost, path: pathOf("pools", pool, "nodes", node, action),
		ids: protocol.APIRequest{PoolID: pool, NodeID: node}, body: body, model: body != nil}
}

func opDisableNodeScheduling(pool, node, option string) call {
	return opNodeCommand("node.disablescheduling", pool, node, "disablescheduling",
		batch.NodeDisableScheduling{NodeDisableSchedulingOption: option})
}

// opEnableNodeScheduling is a POST without a body model.
func opEnableNodeScheduling(pool, node string) call {
	return opNodeCommand("node.enablescheduling", pool, node, "enablescheduling", nil)
}

func opRebootNode(pool, node, option string) call {
	return opNodeCommand("node.reboot", pool, node, "reboot", batch.NodeReboot{NodeRebootOption: option})
}

func opReimageNode(pool, node, option string) call {
	return opNodeCommand("node.reimage", pool, node, "reimage", batch.NodeReimage{NodeReimageOption: option})
}

func opRemoveNodes(pool string, r *batch.NodeRemove) call {
	return call{op: "pool.removenodes", method: http.MethodPost, path: pathOf("pools", pool, "removenodes"),
		ids: protocol.APIRequest{PoolID: pool}, body: r, model: true}
}

// opStopResizePool is a POST without a body model.
func opStopResizePool(pool string) call {
	return call{op: "pool.stopresize", method: http.MethodPost, path: pathOf("pools", pool, "stopresize"),
		ids: protocol.APIRequest{PoolID: pool}}
}

// nodeOps implements the node operations over either transport.
type nodeOps struct{ t transport }

func (o nodeOps) disableScheduling(ctx context.Context, pool, node, option string) error {
	return o.t.roundTrip(ctx, ptr(opDisableNodeScheduling(pool, node, option)), nil)
}

func (o nodeOps) enableScheduling(ctx context.Context, pool, node string) error {
	return o.t.roundTrip(ctx, ptr(opEnableNodeScheduling(pool, node)), nil)
}

func (o nodeOps) reboot(ctx context.Context, pool, node, option string) error {
	return o.t.roundTrip(ctx, ptr(opRebootNode(pool, node, option)), nil)
}

func (o nodeOps) reimage(ctx context.Context, pool, node, option string) error {
	return o.t.roundTrip(ctx, ptr(opReimageNode(pool, node, option)), nil)
}

func (o nodeOps) removeNodes(ctx context.Context, pool string, r *batch.NodeRemove) error {
	if r == nil {
		return errors.New("remove nodes: nil request")
	}
	return o.t.roundTrip(ctx, ptr(opRemoveNodes(pool, r)), nil)
}

func (o nodeOps) stopResize(ctx context.Context, pool string) error {
	return o.t.roundTrip(ctx, ptr(opStopResizePool(pool)), nil)
}

// DisableNodeScheduling stops a node taking tasks (POST
// /pools/{pool}/nodes/{node}/disablescheduling, 200); option (requeue,
// terminate, taskcompletion; "" is requeue) says what happens to the tasks
// it runs.
func (c *Client) DisableNodeScheduling(ctx context.Context, poolID, nodeID, option string) error {
	return nodeOps{c}.disableScheduling(ctx, poolID, nodeID, option)
}

// EnableNodeScheduling lets a node take tasks again (POST
// /pools/{pool}/nodes/{node}/enablescheduling, 200).
func (c *Client) EnableNodeScheduling(ctx context.Context, poolID, nodeID string) error {
	return nodeOps{c}.enableScheduling(ctx, poolID, nodeID)
}

// RebootNode restarts a node's agent (POST /pools/{pool}/nodes/{node}/reboot,
// 202); option (requeue, terminate, taskcompletion, retaineddata) says
// what happens to the tasks it runs.
func (c *Client) RebootNode(ctx context.Context, poolID, nodeID, option string) error {
	return nodeOps{c}.reboot(ctx, poolID, nodeID, option)
}

// ReimageNode restarts a node's agent with its task, shared and startup
// directories wiped (POST /pools/{pool}/nodes/{node}/reimage, 202).
func (c *Client) ReimageNode(ctx context.Context, poolID, nodeID, option string) error {
	return nodeOps{c}.reimage(ctx, poolID, nodeID, option)
}

// RemoveNodes removes the named nodes from a pool and lowers its target
// by as many (POST /pools/{pool}/removenodes, 202).
func (c *Client) RemoveNodes(ctx context.Context, poolID string, r *batch.NodeRemove) error {
	return nodeOps{c}.removeNodes(ctx, poolID, r)
}

// StopResizePool stops a pool's resize (POST /pools/{pool}/stopresize,
// 202): its targets become the nodes it has.
func (c *Client) StopResizePool(ctx context.Context, poolID string) error {
	return nodeOps{c}.stopResize(ctx, poolID)
}

// DisableNodeScheduling is Client.DisableNodeScheduling over NATS.
func (c *NATSClient) DisableNodeScheduling(ctx context.Context, poolID, nodeID, option string) error {
	return nodeOps{c}.disableScheduling(ctx, poolID, nodeID, option)
}

// EnableNodeScheduling is Client.EnableNodeScheduling over NATS.
func (c *NATSClient) EnableNodeScheduling(ctx context.Context, poolID, nodeID string) error {
	return nodeOps{c}.enableScheduling(ctx, poolID, nodeID)
}

// RebootNode is Client.RebootNode over NATS.
func (c *NATSClient) RebootNode(ctx context.Context, poolID, nodeID, option string) error {
	return nodeOps{c}.reboot(ctx, poolID, nodeID, option)
}

// ReimageNode is Client.ReimageNode over NATS.
func (c *NATSClient) ReimageNode(ctx context.Context, poolID, nodeID, option string) error {
	return nodeOps{c}.reimage(ctx, poolID, nodeID, option)
}

// RemoveNodes is Client.RemoveNodes over NATS.
func (c *NATSClient) RemoveNodes(ctx context.Context, poolID string, r *batch.NodeRemove) error {
	return nodeOps{c}.removeNodes(ctx, poolID, r)
}

// StopResizePool is Client.StopResizePool over NATS.
func (c *NATSClient) StopResizePool(ctx context.Context, poolID string) error {
	return nodeOps{c}.stopResize(ctx, poolID)
}
