package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

type nodesBundle struct {
	svc *service.Service
	st  *state.Store
	now time.Time
}

// setupNodes is a service over an embedded server whose clock stands at
// 12:45, with pool "p" (standard_d2s_v3, target 3) and its idle nodes n1,
// n2, n3 allocated at 12:15. No worker answers node commands.
func setupNodes(t *testing.T) *nodesBundle {
	t.Helper()
	ctx := t.Context()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv)
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{Memory: true}))
	now := time.Date(2026, 3, 4, 12, 45, 0, 0, time.UTC)
	st, err := state.Open(ctx, js, func() time.Time { return now })
	require.NoError(t, err)
	svc := service.New(nc, st, service.Config{})
	_, err = svc.AddPool(ctx, "acct", &batch.Pool{ID: "p", VMSize: "standard_d2s_v3", TargetDedicatedNodes: batch.Int(3)})
	require.NoError(t, err)
	for _, id := range []string{"n1", "n2", "n3"} {
		rec := &protocol.NodeRecord{ComputeNode: batch.ComputeNode{ID: id, State: batch.NodeIdle, IsDedicated: true,
			IPAddress: "10.0.0.4", AllocationTime: batch.At(now.Add(-30 * time.Minute))}, Account: "acct", PoolID: "p"}
		_, err := st.Nodes.Put(ctx, topology.NodeKey("acct", "p", id), rec)
		require.NoError(t, err)
	}
	return &nodesBundle{svc: svc, st: st, now: now}
}

func (b *nodesBundle) node(t *testing.T, id string) *protocol.NodeRecord {
	t.Helper()
	n, _, err := b.st.Nodes.Get(t.Context(), topology.NodeKey("acct", "p", id))
	require.NoError(t, err)
	return n
}

func requireCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	be := batch.AsError(err)
	require.Equal(t, status, be.Status, err)
	require.Equal(t, code, be.Code, err)
}

func TestRemoveNodesMarksExactlyTheNamedNodes(t *testing.T) {
	t.Parallel()
	b := setupNodes(t)
	ctx := t.Context()

	err := b.svc.RemoveNodes(ctx, "acct", "p", &batch.NodeRemove{NodeList: []string{"n2", "ghost"}}, service.Condition{})
	requireCode(t, err, 404, "NodeNotFound")
	require.Empty(t, b.node(t, "n2").RemoveOption, "nothing changes when a node is missing")

	tooMany := make([]string, batch.MaxRemoveNodes+1)
	for i := range tooMany {
		tooMany[i] = "n1"
	}
	requireCode(t, b.svc.RemoveNodes(ctx, "acct", "p", &batch.NodeRemove{NodeList: tooMany}, service.Condition{}), 400, "InvalidPropertyValue")
	requireCode(t, b.svc.RemoveNodes(ctx, "acct", "p", &batch.NodeRemove{}, service.Condition{}), 400, "MissingRequiredProperty")
	requireCode(t, b.svc.RemoveNodes(ctx, "acct", "p", &batch.NodeRemove{NodeList: []string{"n1"}, NodeDeallocationOption: "later"},
		service.Condition{}), 400, "InvalidPropertyValue")

	// An unreachable node is removed all the same.
	require.NoError(t, b.svc.RemoveNodes(ctx, "acct", "p", &batch.NodeRemove{NodeList: []string{"N2"},
		NodeDeallocationOption: "TaskCompletion"}, service.Condition{}))
	require.Equal(t, protocol.OptionTaskCompletion, b.node(t, "n2").RemoveOption)
	require.Empty(t, b.node(t, "n1").RemoveOption)
	require.Empty(t, b.node(t, "n3").RemoveOption)
	p, err := b.svc.GetPool(ctx, "acct", "p")
	require.NoError(t, err)
	require.Equal(t, 2, *p.TargetDedicatedNodes)
	require.Equal(t, batch.AllocResizing, p.AllocationState)

	// Naming it again does not lower the target twice.
	require.NoError(t, b.svc.RemoveNodes(ctx, "acct", "p", &batch.NodeRemove{NodeList: []string{"n2"}}, service.Condition{}))
	p, err = b.svc.GetPool(ctx, "acct", "p")
	require.NoError(t, err)
	require.Equal(t, 2, *p.TargetDedicatedNodes)
}

func TestStopResize(t *testing.T) {
	t.Parallel()
	b := setupNodes(t)
	ctx := t.Context()
	p, err := b.svc.GetPool(ctx, "acct", "p")
	require.NoError(t, err)
	require.Equal(t, batch.AllocResizing, p.AllocationState)
	require.NoError(t, b.svc.StopResize(ctx, "acct", "p", service.Condition{}))
	p, err = b.svc.GetPool(ctx, "acct", "p")
	require.NoError(t, err)
	require.Equal(t, batch.AllocStopping, p.AllocationState, "the scaler takes it from here")
	requireCode(t, b.svc.StopResize(ctx, "acct", "nope", service.Condition{}), 404, "PoolNotFound")
	requireCode(t, b.svc.StopResize(ctx, "acct", "p", service.Condition{IfMatch: "0x1"}), 412, "ConditionNotMet")
}

func TestNodeOperationsNeedTheNode(t *testing.T) {
	t.Parallel()
	b := setupNodes(t)
	ctx := t.Context()
	requireCode(t, b.svc.DisableNodeScheduling(ctx, "acct", "p", "n1", &batch.NodeDisableScheduling{}), 409, "NodeNotReady")
	requireCode(t, b.svc.DisableNodeScheduling(ctx, "acct", "p", "n1",
		&batch.NodeDisableScheduling{NodeDisableSchedulingOption: "retaineddata"}), 400, "InvalidPropertyValue")
	requireCode(t, b.svc.EnableNodeScheduling(ctx, "acct", "p", "ghost"), 404, "NodeNotFound")
	requireCode(t, b.svc.RebootNode(ctx, "acct", "p", "n1", "", false), 409, "NodeNotReady")
	requireCode(t, b.svc.NodeUser(ctx, "acct", "p", "n1"), 409, "OperationNotValidOnNode")
	requireCode(t, b.svc.NodeUser(ctx, "acct", "nope", "n1"), 404, "PoolNotFound")

	rl, err := b.svc.NodeRemoteLoginSettings(ctx, "acct", "p", "n1")
	require.NoError(t, err)
	require.Equal(t, batch.RemoteLoginSettings{RemoteLoginIPAddress: "10.0.0.4", RemoteLoginPort: 22}, *rl)

	_, err = b.svc.UploadNodeLogs(ctx, "acct", "p", "n1", &batch.UploadBatchServiceLogs{ContainerURL: "nats://x"})
	requireCode(t, err, 400, "MissingRequiredProperty")
}

func TestUsageMetricsAndLifetimeStatistics(t *testing.T) {
	t.Parallel()
	b := setupNodes(t)
	ctx := t.Context()
	m, err := b.svc.ListUsageMetrics(ctx, "acct", nil, nil)
	require.NoError(t, err)
	require.Len(t, m, 1, "the current window")
	require.Equal(t, "p", m[0].PoolID)
	require.Equal(t, time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), m[0].StartTime.Time)
	require.Equal(t, time.Date(2026, 3, 4, 13, 0, 0, 0, time.UTC), m[0].EndTime.Time)
	require.InDelta(t, 3*0.5*2, m[0].TotalCoreHours, 1e-9, "3 nodes × 30 min × 2 cores")

	from, to := b.now.Add(-5*time.Hour), b.now
	m, err = b.svc.ListUsageMetrics(ctx, "acct", &from, &to)
	require.NoError(t, err)
	require.Len(t, m, 1, "the pool did not exist in the earlier windows")
	_, err = b.svc.ListUsageMetrics(ctx, "acct", &to, &from)
	requireCode(t, err, 400, "InvalidQueryParameterValue")

	ps, err := b.svc.PoolLifetimeStatistics(ctx, "acct")
	require.NoError(t, err)
	require.Equal(t, batch.Duration(3*time.Hour), ps.UsageStats.DedicatedCoreTime)

	js, err := b.svc.JobLifetimeStatistics(ctx, "acct")
	require.NoError(t, err)
	require.Equal(t, b.now, js.LastUpdateTime.Time)
	require.Zero(t, js.NumSucceededTasks)
}

func TestVMCores(t *testing.T) {
	t.Parallel()
	for size, want := range map[string]int{
		"standard_d2s_v3": 2, "Standard_NC24ads_A100_v4": 24, "standard_a1": 1, "STANDARD_M416ms_v2": 416,
		"local": 1, "": 1, "basic_a3": 3,
	} {
		require.Equal(t, want, service.VMCores(size), size)
	}
	require.True(t, strings.HasPrefix(service.SupportedImages()[0].NodeAgentSKUID, "batch.node.ubuntu"))
}
