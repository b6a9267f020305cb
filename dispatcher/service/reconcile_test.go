package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// A crash between a task's record and its ready message, and counts that
// drifted: Reconcile republishes the message and recounts.
func TestReconcileRepublishesLostTasks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv)
	require.NoError(t, topology.Ensure(ctx, js, topology.Options{}))
	st, err := state.Open(ctx, js, nil)
	require.NoError(t, err)
	svc := service.New(nc, st, service.Config{})

	_, err = svc.AddPool(ctx, "acct", &batch.Pool{ID: "p", VMSize: "x"})
	require.NoError(t, err)
	_, err = svc.AddJob(ctx, "acct", &batch.Job{ID: "j", PoolInfo: &batch.PoolInformation{PoolID: "p"}})
	require.NoError(t, err)
	_, err = svc.AddTask(ctx, "acct", "j", &batch.Task{ID: "kept", CommandLine: "true"})
	require.NoError(t, err)
	// The record of a task whose ready message was never published.
	lost := &state.TaskRecord{Task: batch.Task{ID: "lost", CommandLine: "true", State: batch.TaskActive,
		ExecutionInfo: &batch.TaskExecutionInformation{}}, PoolKey: "p"}
	_, err = st.Tasks.Create(ctx, topology.TaskKey("acct", "j", "lost"), lost)
	require.NoError(t, err)
	str, err := js.Stream(ctx, topology.TasksStream)
	require.NoError(t, err)
	lostSubject := topology.TaskSubject("acct", "p", "j", "lost")
	_, err = st.Counts.Put(ctx, topology.JobKey("acct", "j"), &state.Counts{Total: 99})
	require.NoError(t, err)

	require.NoError(t, svc.Reconcile(ctx))

	_, err = str.GetLastMsgForSubject(ctx, lostSubject)
	require.NoError(t, err, "the lost ready message is back")
	info, err := str.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(2), info.State.Msgs, "the kept task was not published twice")
	c, err := svc.TaskCounts(ctx, "acct", "j")
	require.NoError(t, err)
	require.Equal(t, batch.TaskCounts{Active: 2}, c.TaskCounts)
}
