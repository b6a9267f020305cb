package worker_test

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// command sends a node command and returns the error code of its reply
// ("" for success) and the reply body.
func (b *testBundle) command(t *testing.T, cmd string, body any) (string, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	require.NoError(t, err)
	reply, err := b.nc.Request(topology.NodeSubject(account, batch.Key(nodeID), cmd), data, wait)
	require.NoError(t, err)
	return reply.Header.Get(protocol.ErrorHeader), reply.Data
}

func TestSchedulingDisabledNodeTakesNoTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	b.start(t, nil)

	code, msg := b.command(t, protocol.CmdScheduling, protocol.SchedulingRequest{Option: protocol.OptionRequeue})
	require.Empty(t, code, string(msg))
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.SchedulingState == "disabled"
	}, wait, tick)

	b.publish(t, task("Held", "true"))
	// Several heartbeats (100 ms) pass: the node keeps its disabled state
	// and takes nothing.
	require.Never(t, func() bool {
		_, ran := b.findEvent(protocol.EventCompleted, "Held")
		r, ok := b.record(t)
		return ran || !ok || r.SchedulingState != "disabled"
	}, time.Second, 20*time.Millisecond)

	code, _ = b.command(t, protocol.CmdScheduling, protocol.SchedulingRequest{Enable: true})
	require.Empty(t, code)
	b.event(t, protocol.EventCompleted, "Held")
	// The record is written apart from the reply (writes are coalesced, at
	// least 50 ms apart); a quick task can end before it.
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.SchedulingState == "enabled"
	}, wait, tick)

	code, _ = b.command(t, protocol.CmdScheduling, protocol.SchedulingRequest{Option: "later"})
	require.Equal(t, worker.CodeInvalidInput, code)
}

func TestSchedulingDisableHandlesRunningTasks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		option string
		check  func(t *testing.T, b *testBundle, id string)
	}{
		{name: "Requeue", option: protocol.OptionRequeue, check: func(t *testing.T, b *testBundle, id string) {
			b.event(t, protocol.EventRequeued, id)
			_, done := b.findEvent(protocol.EventCompleted, id)
			require.False(t, done, "a requeued task is not completed")
		}},
		{name: "Terminate", option: protocol.OptionTerminate, check: func(t *testing.T, b *testBundle, id string) {
			ev := b.event(t, protocol.EventCompleted, id)
			require.NotNil(t, ev.FailureInfo)
			require.Equal(t, protocol.CodeTaskEnded, ev.FailureInfo.Code)
		}},
		{name: "TaskCompletion", option: protocol.OptionTaskCompletion, check: func(t *testing.T, b *testBundle, id string) {
			ev := b.event(t, protocol.EventCompleted, id)
			require.Nil(t, ev.FailureInfo)
			require.Equal(t, 0, *ev.ExitCode)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, bundleOpts{slots: 1})
			b.start(t, nil)
			sleep := "sleep 30"
			if tt.option == protocol.OptionTaskCompletion {
				sleep = "sleep 0.5"
			}
			b.publish(t, task("Long", sleep))
			require.Eventually(t, func() bool {
				r, ok := b.record(t)
				return ok && r.RunningTasksCount == 1
			}, wait, tick)
			code, msg := b.command(t, protocol.CmdScheduling, protocol.SchedulingRequest{Option: tt.option})
			require.Empty(t, code, string(msg))
			tt.check(t, b, "Long")
		})
	}
}

func TestRebootAndReimage(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	b.publish(t, task("Before", `/bin/sh -c 'echo x > kept.txt'`))
	b.event(t, protocol.EventCompleted, "Before")
	kept := filepath.Join(n.taskDir("Before"), "wd", "kept.txt")
	require.FileExists(t, kept)
	first, ok := b.record(t)
	require.True(t, ok)

	code, msg := b.command(t, protocol.CmdReboot, protocol.RebootRequest{Option: protocol.OptionRequeue})
	require.Empty(t, code, string(msg))
	r, ok := b.record(t)
	require.True(t, ok)
	if r.State == "rebooting" { // while it restarts, a second one is refused
		code, _ = b.command(t, protocol.CmdReboot, protocol.RebootRequest{})
		require.Equal(t, "NodeBeingRebooted", code)
	}
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.State == "rebooting"
	}, wait, tick)
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.State == batch.NodeIdle && r.LastBootTime.After(first.LastBootTime.Time)
	}, wait, tick)
	require.FileExists(t, kept, "a reboot keeps the node's files")
	b.publish(t, task("AfterReboot", "true"))
	b.event(t, protocol.EventCompleted, "AfterReboot")

	code, msg = b.command(t, protocol.CmdReboot, protocol.RebootRequest{Reimage: true})
	require.Empty(t, code, string(msg))
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.State == "reimaging"
	}, wait, tick)
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.State == batch.NodeIdle
	}, wait, tick)
	_, err := os.Stat(kept)
	require.ErrorIs(t, err, os.ErrNotExist, "a reimage wipes the task directories")
	b.publish(t, task("AfterReimage", "true"))
	b.event(t, protocol.EventCompleted, "AfterReimage")
}

func TestUploadLogs(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	root, err := filepath.EvalSymlinks(n.cfg.RootDir)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "agent.log"), []byte("agent says hi\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "notes.txt"), []byte("not a log\n"), 0o644))

	code, data := b.command(t, protocol.CmdUploadLogs, protocol.UploadLogsRequest{
		ContainerURL: "nats://node-logs", StartTime: time.Now().Add(-time.Hour)})
	require.Empty(t, code, string(data))
	var res protocol.UploadLogsResult
	require.NoError(t, json.Unmarshal(data, &res))
	require.Equal(t, 1, res.NumberOfFilesUploaded)
	require.Regexp(t, `^`+poolID+`/`+nodeID+`/\d{8}T\d{6}Z-[0-9a-f]{8}/$`, res.VirtualDirectoryName)
	c, err := blob.NewObjectStore(b.js, "node-logs", blob.Config{Account: account})
	require.NoError(t, err)
	rc, _, err := c.Get(t.Context(), res.VirtualDirectoryName+"agent.log")
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "agent says hi\n", string(got))

	code, data = b.command(t, protocol.CmdUploadLogs, protocol.UploadLogsRequest{
		ContainerURL: "nats://node-logs", StartTime: time.Now().Add(time.Hour)})
	require.Empty(t, code, string(data))
	require.NoError(t, json.Unmarshal(data, &res))
	require.Equal(t, 0, res.NumberOfFilesUploaded, "nothing was written after startTime")

	code, _ = b.command(t, protocol.CmdUploadLogs, protocol.UploadLogsRequest{ContainerURL: "ftp://x/y"})
	require.Equal(t, worker.CodeInvalidInput, code)
}
