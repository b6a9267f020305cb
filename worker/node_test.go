package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{})
	good := worker.Config{Account: account, PoolID: poolID, NodeID: nodeID, RootDir: t.TempDir()}
	tests := []struct {
		name string
		mod  func(*worker.Config)
	}{
		{name: "NoAccount", mod: func(c *worker.Config) { c.Account = "" }},
		{name: "NoPool", mod: func(c *worker.Config) { c.PoolID = "" }},
		{name: "BadNodeID", mod: func(c *worker.Config) { c.NodeID = "a.b" }},
		{name: "NoRootDir", mod: func(c *worker.Config) { c.RootDir = "" }},
		{name: "NegativeSlots", mod: func(c *worker.Config) { c.Slots = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			tt.mod(&cfg)
			_, err := worker.New(b.nc, b.js, cfg)
			require.Error(t, err)
		})
	}
	_, err := worker.New(b.nc, b.js, good)
	require.NoError(t, err)
}

func TestNodeRecordLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 3})
	n := b.start(t, func(c *worker.Config) { c.LowPriority = true })

	rec, ok := b.record(t)
	require.True(t, ok)
	require.Equal(t, nodeID, rec.ID)
	require.Equal(t, batch.NodeIdle, rec.State)
	require.Equal(t, "enabled", rec.SchedulingState)
	require.NotNil(t, rec.StateTransitionTime)
	require.NotNil(t, rec.LastBootTime)
	require.NotNil(t, rec.AllocationTime)
	require.NotEmpty(t, rec.IPAddress)
	require.Equal(t, "TVM:"+nodeID, rec.AffinityID)
	require.Equal(t, "standard_a1", rec.VMSize, "the pool's vmSize")
	require.False(t, rec.IsDedicated)
	require.NotNil(t, rec.NodeAgentInfo)
	require.NotEmpty(t, rec.NodeAgentInfo.Version)
	require.Equal(t, account, rec.Account)
	require.Equal(t, poolID, rec.PoolID)
	require.Equal(t, 3, rec.Slots, "taskSlotsPerNode of the pool")
	require.Equal(t, n.taskDir("x")[:len(rec.RootDir)], rec.RootDir)
	require.Equal(t, "http://127.0.0.1:8765/pools/"+poolID+"/nodes/"+nodeID, rec.URL)

	// Heartbeats move forward.
	first := rec.Heartbeat
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.Heartbeat.After(first)
	}, wait, tick)

	// idle → running → idle, with the running task listed.
	b.publish(t, task("T1", "sleep 0.5"))
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.State == batch.NodeRunning && r.RunningTasksCount == 1 && r.RunningTaskSlotsCount == 1 &&
			len(r.RunningTasks) == 1 && r.RunningTasks[0] == "Job1/T1"
	}, wait, tick)
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.State == batch.NodeIdle && r.RunningTasksCount == 0 && len(r.RunningTasks) == 0 &&
			r.TotalTasksRun == 1 && r.TotalTasksSucceeded == 1
	}, wait, tick)

	// A field the worker does not own survives its heartbeats.
	kv, err := b.js.KeyValue(t.Context(), topology.NodesBucket)
	require.NoError(t, err)
	key := topology.NodeKey(account, batch.Key(poolID), batch.Key(nodeID))
	require.Eventually(t, func() bool {
		e, err := kv.Get(t.Context(), key)
		require.NoError(t, err)
		var r protocol.NodeRecord
		require.NoError(t, json.Unmarshal(e.Value(), &r))
		r.Errors = []batch.ComputeNodeError{{Code: "Test"}}
		data, err := json.Marshal(r)
		require.NoError(t, err)
		_, err = kv.Update(t.Context(), key, data, e.Revision())
		return err == nil
	}, wait, tick)
	require.Eventually(t, func() bool {
		r, ok := b.record(t)
		return ok && r.Heartbeat.After(first) && len(r.Errors) == 1
	}, wait, tick)

	require.NoError(t, n.stop(t))
	_, ok = b.record(t)
	require.False(t, ok)
}

func TestSlotsWithoutPoolRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{})
	b.start(t, func(c *worker.Config) { c.Slots = 4; c.VMSize = "standard_d2s_v3" })
	rec, ok := b.record(t)
	require.True(t, ok)
	require.Equal(t, 4, rec.Slots)
	require.Equal(t, "standard_d2s_v3", rec.VMSize)
	require.True(t, rec.IsDedicated)
}

// TestNodeRecordCarriesMetrics: on Linux the node record holds the
// machine's resource sample, refreshed with the heartbeat.
func TestNodeRecordCarriesMetrics(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("nodes measure their machine on Linux only")
	}
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, func(c *worker.Config) { c.Heartbeat = 200 * time.Millisecond })
	var first time.Time
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		if !ok || rec.Metrics == nil {
			return false
		}
		if first.IsZero() {
			first = rec.Metrics.At
		}
		return rec.Metrics.At.Sub(first) >= time.Second
	}, wait, tick, "metrics are measured again, a second or more later")
	rec, _ := b.record(t)
	m := rec.Metrics
	require.Positive(t, m.MemoryBytes)
	require.Positive(t, m.DiskBytes)
	require.GreaterOrEqual(t, m.CPUPercent, 0.0)
	require.LessOrEqual(t, m.CPUPercent, 100.0)
}

func TestNodeRemovedRequeuesAndStops(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"deleted", batch.NodeLeaving, batch.NodePreempted} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			b := setup(t, bundleOpts{slots: 1})
			n := b.start(t, func(c *worker.Config) { c.ShutdownGrace = time.Minute })
			b.publish(t, task("Long", "sleep 60"))
			b.event(t, protocol.EventRunning, "Long")

			kv, err := b.js.KeyValue(t.Context(), topology.NodesBucket)
			require.NoError(t, err)
			key := topology.NodeKey(account, batch.Key(poolID), batch.Key(nodeID))
			if how == "deleted" {
				require.NoError(t, kv.Delete(t.Context(), key))
			} else {
				require.Eventually(t, func() bool {
					e, err := kv.Get(t.Context(), key)
					require.NoError(t, err)
					var r protocol.NodeRecord
					require.NoError(t, json.Unmarshal(e.Value(), &r))
					r.State = how
					data, err := json.Marshal(r)
					require.NoError(t, err)
					_, err = kv.Update(t.Context(), key, data, e.Revision())
					return err == nil
				}, wait, tick)
			}
			select {
			case err := <-n.done:
				n.done <- err
				require.ErrorIs(t, err, worker.ErrNodeRemoved)
			case <-time.After(wait):
				require.FailNow(t, "the worker did not stop when its node was removed")
			}
			ev := b.event(t, protocol.EventRequeued, "Long")
			require.Equal(t, 1, ev.Delivery)
			cons, err := b.js.Consumer(t.Context(), topology.TasksStream, topology.PoolConsumer(account, batch.Key(poolID)))
			require.NoError(t, err)
			msg, err := cons.Next() // Nak'd: delivered again at once
			require.NoError(t, err)
			md, err := msg.Metadata()
			require.NoError(t, err)
			require.Equal(t, uint64(2), md.NumDelivered)
			require.NoError(t, msg.Ack())
			if how != "deleted" {
				rec, ok := b.record(t)
				require.True(t, ok, "the scaler owns the record now")
				require.Equal(t, how, rec.State)
			}
		})
	}
}

func TestCutOffFromNATSKillsTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1, ackWait: 2 * time.Second})
	n := b.start(t, func(c *worker.Config) { c.ShutdownGrace = 100 * time.Millisecond })
	pidFile := filepath.Join(t.TempDir(), "pid")
	b.publish(t, task("Long", `/bin/sh -c 'echo $$ > `+pidFile+`; exec sleep 60'`))
	b.event(t, protocol.EventRunning, "Long")
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(pidFile)
		return err == nil && strings.HasSuffix(string(data), "\n")
	}, wait, tick)
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	require.NoError(t, err)

	b.srv.Shutdown()
	require.Eventually(t, func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}, 3*wait, 20*time.Millisecond, "the task is killed after AckWait without NATS")
	_ = n.stop(t)
}

func TestRunStopsWhileWaitingForStreams(t *testing.T) {
	t.Parallel()
	srvB := setup(t, bundleOpts{})
	// A fresh JetStream account without natch's streams: the worker waits.
	require.NoError(t, srvB.js.DeleteStream(t.Context(), topology.TasksStream))
	w, err := worker.New(srvB.nc, srvB.js, worker.Config{Account: account, PoolID: poolID, NodeID: nodeID,
		Slots: 1, RootDir: t.TempDir()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	require.Never(t, func() bool { return len(done) > 0 }, 300*time.Millisecond, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	_, err = srvB.js.Stream(t.Context(), topology.TasksStream)
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "the worker creates no streams")
}

func TestRunOnlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	require.Error(t, n.w.Run(t.Context()))
}

func TestWithParentLivesWhileTheParentDoes(t *testing.T) {
	t.Parallel()
	ctx, cancel := worker.WithParent(t.Context(), 10*time.Millisecond)
	require.Never(t, func() bool { return ctx.Err() != nil }, 100*time.Millisecond, 10*time.Millisecond)
	cancel()
	require.Error(t, ctx.Err())
}

func TestServerRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1, restartable: true})
	n := b.start(t, func(c *worker.Config) { c.PollWait = 2 * time.Second })
	b.publish(t, task("Before", "true"))
	b.event(t, protocol.EventCompleted, "Before")

	b.restartServer(t)
	require.Eventually(t, b.nc.IsConnected, wait, tick)
	b.publish(t, task("After", "true"))
	b.event(t, protocol.EventCompleted, "After")
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.TotalTasksRun == 2
	}, wait, tick)
	require.NoError(t, n.stop(t))
	_, ok := b.record(t)
	require.False(t, ok)
}
