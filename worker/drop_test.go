package worker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// TestDropQueuedTasks: tasks a node holds for a slot are dropped, without
// running and without an event, when the dispatcher says their job or the
// task ended (protocol.DropQueued), and so are the matching tasks that
// arrive within the rule's TTL; a task queued after the command runs.
func TestDropQueuedTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	n, blockers, tiny := prefetched(t, b)
	drop := func(req protocol.DropQueued) {
		t.Helper()
		str, err := b.js.Stream(context.Background(), topology.TasksStream)
		require.NoError(t, err)
		si, err := str.Info(context.Background())
		require.NoError(t, err)
		req.UpToSeq = si.State.LastSeq
		data, err := json.Marshal(req)
		require.NoError(t, err)
		require.NoError(t, b.nc.Publish(topology.PoolDropSubject(account, batch.Key(poolID)), data))
		require.NoError(t, b.nc.Flush())
	}
	drop(protocol.DropQueued{JobID: "Job1", TaskID: tiny[1]}) // one task
	drop(protocol.DropQueued{JobID: "JOB1"})                  // the rest of the job (ids are case-insensitive)
	b.publishAsync(t, task("late", "true"))                   // queued after the command: runs

	for _, id := range blockers {
		b.event(t, protocol.EventCompleted, id)
	}
	b.event(t, protocol.EventCompleted, "late")
	require.Eventually(t, func() bool {
		c := b.consumer(t)
		return c.NumAckPending == 0 && c.NumPending == 0
	}, wait, tick, "every message acknowledged, the dropped ones too")
	for _, id := range tiny {
		_, ran := b.findEvent(protocol.EventCompleted, id)
		require.False(t, ran, "%s was dropped", id)
		_, err := os.Stat(filepath.Join(n.cfg.RootDir, "workitems", "Job1", "job-1", id))
		require.ErrorIs(t, err, os.ErrNotExist, "%s never started", id)
	}
}
