package state

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

func TestUpdateManyAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, natstest.Run(t), topology.Options{Memory: true})
	var err error

	keys := []string{"acct.job.a", "acct.job.b", "acct.job.c"}
	revs := make([]uint64, len(keys))
	for i, k := range keys {
		revs[i], err = st.Tasks.Create(ctx, k, &TaskRecord{Task: batch.Task{ID: k, State: batch.TaskActive}})
		require.NoError(t, err)
	}
	// b changes behind the writer's back: its write must not land.
	_, err = st.Tasks.Put(ctx, keys[1], &TaskRecord{Task: batch.Task{ID: "b", State: batch.TaskRunning}})
	require.NoError(t, err)

	var ws []Write[TaskRecord]
	for i, k := range keys {
		ws = append(ws, Write[TaskRecord]{Key: k, Revision: revs[i],
			Value: &TaskRecord{Task: batch.Task{ID: k, State: batch.TaskCompleted}}})
	}
	res := st.Tasks.UpdateManyAt(ctx, ws)
	require.Len(t, res, 3)
	for i, k := range keys {
		require.NoError(t, res[i].Err, k)
		v, rev, err := st.Tasks.Get(ctx, k)
		require.NoError(t, err)
		if i == 1 {
			require.False(t, res[i].OK, "a stale revision is refused")
			require.Equal(t, batch.TaskRunning, v.State, "and changes nothing")
			continue
		}
		require.True(t, res[i].OK, k)
		require.Equal(t, rev, res[i].Revision, "the result is the new revision")
		require.Equal(t, batch.TaskCompleted, v.State)
	}
	require.Empty(t, st.Tasks.UpdateManyAt(ctx, nil))
}

// openStore creates natch's streams and buckets with o and opens the store.
func openStore(t *testing.T, js jetstream.JetStream, o topology.Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A test cluster may not place replicas at once (natch's dispatcher
	// retries the same way).
	err := topology.Ensure(ctx, js, o)
	for topology.ClusterNotReady(err) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		err = topology.Ensure(ctx, js, o)
	}
	require.NoError(t, err)
	st, err := Open(ctx, js, time.Now)
	require.NoError(t, err)
	return st
}
