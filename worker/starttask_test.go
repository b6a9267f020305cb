package worker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// setPool rewrites the pool record (slots task slots) with a start task.
func (b *testBundle) setPool(t *testing.T, slots int, st *batch.StartTask) {
	t.Helper()
	pools, err := b.js.KeyValue(t.Context(), topology.PoolsBucket)
	require.NoError(t, err)
	data, err := json.Marshal(batch.Pool{ID: poolID, VMSize: "standard_a1", TaskSlotsPerNode: &slots, StartTask: st})
	require.NoError(t, err)
	_, err = pools.Put(t.Context(), topology.PoolKey(account, batch.Key(poolID)), data)
	require.NoError(t, err)
}

// launchAt runs a worker on rootDir without waiting for any node state.
func (b *testBundle) launchAt(t *testing.T, rootDir string) *node {
	t.Helper()
	return b.launch(t, nodeID, func(c *worker.Config) { c.RootDir = rootDir })
}

// waitState waits for the node record's state and returns the record.
func (b *testBundle) waitState(t *testing.T, state string) protocol.NodeRecord {
	t.Helper()
	var rec protocol.NodeRecord
	require.Eventually(t, func() bool {
		var ok bool
		rec, ok = b.record(t)
		return ok && rec.State == state
	}, wait, tick, "node never %s", state)
	return rec
}

func lines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(data), "\n")
}

func TestStartTaskSucceedsBeforeTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.setPool(t, 1, &batch.StartTask{
		CommandLine:         `/bin/sh -c 'echo "$GREETING" > "$AZ_BATCH_NODE_SHARED_DIR/ready"; echo started; pwd'`,
		EnvironmentSettings: []batch.NameValue{{Name: "GREETING", Value: "hello"}},
	})
	root := filepath.Join(t.TempDir(), "node")
	b.launchAt(t, root)
	rec := b.waitState(t, batch.NodeIdle)
	require.NotNil(t, rec.StartTask)
	require.NotNil(t, rec.StartTaskInfo)
	require.Equal(t, batch.StartTaskCompleted, rec.StartTaskInfo.State)
	require.Equal(t, batch.ResultSuccess, rec.StartTaskInfo.Result)
	require.Equal(t, 0, *rec.StartTaskInfo.ExitCode)
	require.Equal(t, 0, rec.StartTaskInfo.RetryCount)
	require.NotNil(t, rec.StartTaskInfo.StartTime)
	require.NotNil(t, rec.StartTaskInfo.EndTime)
	rootDir, err := filepath.EvalSymlinks(root)
	require.NoError(t, err)
	require.Equal(t, "started\n"+filepath.Join(rootDir, "startup", "wd")+"\n",
		readFile(t, filepath.Join(root, "startup", "stdout.txt")), "runs in $AZ_BATCH_NODE_STARTUP_DIR/wd")

	b.publish(t, task("T1", `/bin/sh -c 'cat "$AZ_BATCH_NODE_SHARED_DIR/ready"'`))
	ev := b.event(t, protocol.EventCompleted, "T1")
	require.Equal(t, 0, *ev.ExitCode)
	require.Equal(t, "hello\n", readFile(t, filepath.Join(ev.TaskRootDir, "stdout.txt")))
}

func TestStartTaskHoldsTasksWhileItRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	gate := filepath.Join(t.TempDir(), "go")
	b.setPool(t, 1, &batch.StartTask{
		CommandLine: `/bin/sh -c 'while [ ! -e "` + gate + `" ]; do sleep 0.05; done'`})
	b.launchAt(t, filepath.Join(t.TempDir(), "node"))
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.State == batch.NodeWaitingForStartTask && rec.StartTaskInfo != nil &&
			rec.StartTaskInfo.State == batch.StartTaskRunning && rec.StartTaskInfo.StartTime != nil
	}, wait, tick)
	b.publish(t, task("T1", "true"))
	require.Never(t, func() bool {
		_, ok := b.findEvent(protocol.EventCompleted, "T1")
		return ok
	}, 500*time.Millisecond, 20*time.Millisecond, "a task ran before the start task succeeded")
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	b.event(t, protocol.EventCompleted, "T1")
	b.waitState(t, batch.NodeIdle)
}

func TestStartTaskFailsAfterRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.setPool(t, 1, &batch.StartTask{
		CommandLine:       `/bin/sh -c 'echo try >> "$AZ_BATCH_NODE_SHARED_DIR/tries"; exit 3'`,
		MaxTaskRetryCount: batch.Int(2),
	})
	root := filepath.Join(t.TempDir(), "node")
	b.launchAt(t, root)
	rec := b.waitState(t, batch.NodeStartTaskFailed)
	info := rec.StartTaskInfo
	require.Equal(t, batch.StartTaskCompleted, info.State)
	require.Equal(t, batch.ResultFailure, info.Result)
	require.Equal(t, 3, *info.ExitCode)
	require.Equal(t, 2, info.RetryCount)
	require.NotNil(t, info.LastRetryTime)
	require.Equal(t, "FailureExitCode", info.FailureInfo.Code)
	require.Equal(t, 3, lines(t, filepath.Join(root, "shared", "tries")), "one run and two retries")

	b.publish(t, task("T1", "true"))
	require.Never(t, func() bool {
		_, ok := b.findEvent(protocol.EventCompleted, "T1")
		return ok
	}, 500*time.Millisecond, 20*time.Millisecond, "a starttaskfailed node took a task")
	require.Equal(t, uint64(1), b.consumer(t).NumPending, "the task stays queued")
}

func TestStartTaskRetrySucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.setPool(t, 1, &batch.StartTask{
		CommandLine:       `/bin/sh -c 'f="$AZ_BATCH_NODE_SHARED_DIR/once"; if [ -e "$f" ]; then exit 0; fi; touch "$f"; exit 1'`,
		MaxTaskRetryCount: batch.Int(-1),
	})
	b.launchAt(t, filepath.Join(t.TempDir(), "node"))
	rec := b.waitState(t, batch.NodeIdle)
	require.Equal(t, batch.ResultSuccess, rec.StartTaskInfo.Result)
	require.Equal(t, 1, rec.StartTaskInfo.RetryCount)
	require.Nil(t, rec.StartTaskInfo.FailureInfo)
}

func TestStartTaskWithoutWaitForSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	gate := filepath.Join(t.TempDir(), "go")
	b.setPool(t, 1, &batch.StartTask{
		CommandLine:    `/bin/sh -c 'while [ ! -e "` + gate + `" ]; do sleep 0.05; done; exit 5'`,
		WaitForSuccess: batch.Bool(false),
	})
	b.launchAt(t, filepath.Join(t.TempDir(), "node"))
	b.publish(t, task("T1", "true"))
	b.event(t, protocol.EventCompleted, "T1") // runs while the start task does (the gate is shut)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.State == batch.NodeIdle && rec.StartTaskInfo != nil && rec.StartTaskInfo.State == batch.StartTaskRunning
	}, wait, tick)
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.StartTaskInfo != nil && rec.StartTaskInfo.Result == batch.ResultFailure
	}, wait, tick)
	rec := b.waitState(t, batch.NodeIdle) // failed, and still usable
	require.Equal(t, 5, *rec.StartTaskInfo.ExitCode)
	b.publish(t, task("T2", "true"))
	b.event(t, protocol.EventCompleted, "T2")
}

func TestStartTaskRerunsAfterAgentRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.setPool(t, 1, &batch.StartTask{CommandLine: `/bin/sh -c 'echo run >> "$AZ_BATCH_NODE_SHARED_DIR/runs"'`})
	root := filepath.Join(t.TempDir(), "node")
	n := b.launchAt(t, root)
	b.waitState(t, batch.NodeIdle)
	require.NoError(t, n.stop(t))
	b.launchAt(t, root)
	require.Eventually(t, func() bool { return lines(t, filepath.Join(root, "shared", "runs")) == 2 }, wait, tick)
	b.waitState(t, batch.NodeIdle)
}

func TestStartTaskResourceFileFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.setPool(t, 1, &batch.StartTask{CommandLine: "true",
		ResourceFiles: []batch.ResourceFile{{AutoStorageContainerName: "nosuchcontainer", FilePath: "x"}}})
	b.launchAt(t, filepath.Join(t.TempDir(), "node"))
	rec := b.waitState(t, batch.NodeStartTaskFailed)
	require.Nil(t, rec.StartTaskInfo.ExitCode, "the command did not run")
	require.NotNil(t, rec.StartTaskInfo.FailureInfo)
	require.NotEmpty(t, rec.StartTaskInfo.FailureInfo.Code)
}
