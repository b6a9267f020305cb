package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// startNodes runs n workers with ids "mi-0".."mi-<n-1>", each on its own
// connection (closing it cuts the node off), and waits until each is idle.
func (b *testBundle) startNodes(t *testing.T, n int, rendezvous time.Duration) ([]*node, []*nats.Conn) {
	t.Helper()
	var conns []*nats.Conn
	kv, err := b.js.KeyValue(t.Context(), topology.NodesBucket)
	require.NoError(t, err)
	var nodes []*node
	for i := range n {
		cfg := worker.Config{
			Account: account, PoolID: poolID, NodeID: "mi-" + string(rune('0'+i)),
			RootDir:    filepath.Join(t.TempDir(), "node"),
			AccountURL: "http://127.0.0.1:8765", Heartbeat: 100 * time.Millisecond,
			ShutdownGrace: 2 * time.Second, RetentionSweep: time.Minute, RendezvousTimeout: rendezvous,
			Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
		}
		nc, js := natstest.Connect(t, b.srv)
		conns = append(conns, nc)
		w, err := worker.New(nc, js, cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		nd := &node{w: w, cfg: cfg, cancel: cancel, done: make(chan error, 1)}
		go func() { nd.done <- w.Run(ctx) }()
		t.Cleanup(func() { _ = nd.stop(t) })
		require.Eventually(t, func() bool {
			e, err := kv.Get(t.Context(), topology.NodeKey(account, batch.Key(poolID), batch.Key(cfg.NodeID)))
			if err != nil {
				return false
			}
			var rec protocol.NodeRecord
			return json.Unmarshal(e.Value(), &rec) == nil && rec.State == batch.NodeIdle
		}, wait, tick)
		nodes = append(nodes, nd)
	}
	return nodes, conns
}

// rendezvous reads the rendezvous of Job1's task id, attempt 0.
func (b *testBundle) rendezvous(t *testing.T, id string) (*protocol.Rendezvous, bool) {
	t.Helper()
	kv, err := b.js.KeyValue(t.Context(), topology.RendezvousBucket)
	require.NoError(t, err)
	e, err := kv.Get(t.Context(), topology.RendezvousKey(account, "job1", batch.Key(id), 0))
	if err != nil {
		return nil, false
	}
	var r protocol.Rendezvous
	require.NoError(t, json.Unmarshal(e.Value(), &r))
	return &r, true
}

func miTask(id, cmdline, coordination string, n int) protocol.TaskMessage {
	tm := task(id, cmdline)
	tm.Task.MultiInstanceSettings = &batch.MultiInstanceSettings{NumberOfInstances: &n, CoordinationCommandLine: coordination}
	return tm
}

func (b *testBundle) countEvents(typ, taskID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, ev := range b.events {
		if ev.Type == typ && ev.TaskID == taskID {
			n++
		}
	}
	return n
}

func TestMultiInstanceRunsOnEveryNode(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	nodes, _ := b.startNodes(t, 3, 20*time.Second)
	b.publish(t, miTask("MPI",
		`/bin/sh -c 'echo "$AZ_BATCH_HOST_LIST" > hosts.txt; echo "$AZ_BATCH_NODE_LIST|$AZ_BATCH_MASTER_NODE|$AZ_BATCH_IS_CURRENT_NODE_MASTER|$CCP_NODES" > env.txt'`,
		`/bin/sh -c 'echo "$AZ_BATCH_IS_CURRENT_NODE_MASTER" > "$AZ_BATCH_TASK_SHARED_DIR/coord.txt"'`, 3))

	ev := b.event(t, protocol.EventCompleted, "MPI")
	require.NotNil(t, ev.ExitCode)
	require.Equal(t, 0, *ev.ExitCode)
	require.Nil(t, ev.FailureInfo)
	hosts := strings.TrimSpace(readFile(t, filepath.Join(ev.TaskRootDir, "wd", "hosts.txt")))
	require.Len(t, strings.Split(hosts, ","), 3, hosts)
	env := strings.Split(strings.TrimSpace(readFile(t, filepath.Join(ev.TaskRootDir, "wd", "env.txt"))), "|")
	require.Len(t, strings.Split(env[0], ";"), 3)
	require.True(t, strings.HasSuffix(env[1], ":6000"), env[1])
	require.Equal(t, "true", env[2])
	require.True(t, strings.HasPrefix(env[3], "3 "), env[3])

	// Every node ran the coordination command; only the primary's is master.
	masters := 0
	for _, n := range nodes {
		c := strings.TrimSpace(readFile(t, filepath.Join(n.taskDir("MPI"), "coord.txt")))
		if c == "true" {
			masters++
		}
	}
	require.Equal(t, 1, masters)

	// The subtasks completed on the other nodes; the rendezvous ended.
	require.Eventually(t, func() bool {
		r, ok := b.rendezvous(t, "MPI")
		if !ok || r.Ended == nil {
			return false
		}
		for _, m := range r.Members {
			if m.State != batch.SubtaskCompleted || m.Result != batch.ResultSuccess {
				return false
			}
		}
		return true
	}, wait, tick)
	r, _ := b.rendezvous(t, "MPI")
	seen := map[string]bool{}
	for _, m := range r.Members {
		seen[m.NodeID] = true
	}
	require.Len(t, seen, 3, "one instance per node")
	require.Equal(t, ev.NodeID, r.Members[0].NodeID)
	subs := r.Subtasks()
	require.Len(t, subs, 2)
	require.Equal(t, 1, subs[0].ID)
	require.Equal(t, batch.SubtaskRunning, subs[0].PreviousState)

	// One task event stream: the primary's. Every message acked.
	require.Equal(t, 1, b.countEvents(protocol.EventCompleted, "MPI"))
	require.Eventually(t, func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	}, wait, tick)
}

func TestMultiInstanceCoordinationFailureFailsTask(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	_, _ = b.startNodes(t, 2, 20*time.Second)
	b.publish(t, miTask("MPI", `/bin/sh -c 'touch ran.txt'`,
		`/bin/sh -c 'test "$AZ_BATCH_IS_CURRENT_NODE_MASTER" = true || exit 3'`, 2))

	ev := b.event(t, protocol.EventCompleted, "MPI")
	require.NotNil(t, ev.ExitCode)
	require.Equal(t, 3, *ev.ExitCode)
	require.NotNil(t, ev.FailureInfo)
	require.Equal(t, "FailureExitCode", ev.FailureInfo.Code)
	require.Contains(t, ev.FailureInfo.Message, "subtask 1")
	require.NoFileExists(t, filepath.Join(ev.TaskRootDir, "wd", "ran.txt"), "the command line does not run")
	r, ok := b.rendezvous(t, "MPI")
	require.True(t, ok)
	require.NotNil(t, r.Ended)
	require.Equal(t, batch.SubtaskCompleted, r.Members[1].State)
	require.Equal(t, batch.ResultFailure, r.Members[1].Result)
}

func TestMultiInstanceRendezvousTimeoutFreesNodes(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	_, _ = b.startNodes(t, 2, 300*time.Millisecond)
	b.publish(t, miTask("MPI", `/bin/sh -c 'true'`, `/bin/sh -c 'true'`, 3))

	// Two nodes cannot hold three instances: the rendezvous times out and
	// says how far it got.
	require.Eventually(t, func() bool {
		r, ok := b.rendezvous(t, "MPI")
		return ok && r.Waiting != nil && r.Waiting.Joined >= 1 && r.Waiting.Joined < 3
	}, wait, tick)
	// The nodes are not stuck: another task runs.
	b.publish(t, task("Other", `/bin/sh -c 'true'`))
	ev := b.event(t, protocol.EventCompleted, "Other")
	require.Equal(t, 0, *ev.ExitCode)
	_, done := b.findEvent(protocol.EventCompleted, "MPI")
	require.False(t, done, "the multi-instance task never runs on two nodes")
}

func TestMultiInstanceRestartsWhenANodeDies(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1, ackWait: 2 * time.Second})
	nodes, conns := b.startNodes(t, 3, 20*time.Second)
	// The command waits until the test lets it end.
	stopFile := filepath.Join(t.TempDir(), "stop")
	b.publish(t, miTask("MPI", `/bin/sh -c 'while [ ! -e `+stopFile+` ]; do sleep 0.05; done'`, `/bin/sh -c 'true'`, 2))
	var r *protocol.Rendezvous
	require.Eventually(t, func() bool {
		var ok bool
		r, ok = b.rendezvous(t, "MPI")
		return ok && r.Full() && r.Members[1].State == batch.SubtaskRunning
	}, wait, tick)
	// Kill the subtask's node without a goodbye: its message comes back
	// after AckWait on the third node, and every instance meets again.
	var victim *node
	for i, n := range nodes {
		if n.cfg.NodeID == r.Members[1].NodeID {
			victim = n
			conns[i].Close()
		}
	}
	require.NotNil(t, victim)
	require.Eventually(t, func() bool {
		r2, ok := b.rendezvous(t, "MPI")
		return ok && r2.Round > 0 && r2.Full() && r2.Members[1].NodeID != victim.cfg.NodeID &&
			r2.Members[1].State == batch.SubtaskRunning
	}, 3*wait, tick)
	require.NoError(t, os.WriteFile(stopFile, nil, 0o644))
	ev := b.event(t, protocol.EventCompleted, "MPI")
	require.Equal(t, 0, *ev.ExitCode)
}

// updateRendezvous applies f to the rendezvous of Job1's task id, attempt 0.
func (b *testBundle) updateRendezvous(t *testing.T, id string, f func(r *protocol.Rendezvous)) {
	t.Helper()
	kv, err := b.js.KeyValue(t.Context(), topology.RendezvousBucket)
	require.NoError(t, err)
	key := topology.RendezvousKey(account, "job1", batch.Key(id), 0)
	require.Eventually(t, func() bool {
		r := protocol.NewRendezvous(2)
		var rev uint64
		if e, err := kv.Get(t.Context(), key); err == nil {
			require.NoError(t, json.Unmarshal(e.Value(), r))
			rev = e.Revision()
		}
		f(r)
		data, err := json.Marshal(r)
		require.NoError(t, err)
		if rev == 0 {
			_, err = kv.Create(t.Context(), key, data)
		} else {
			_, err = kv.Update(t.Context(), key, data, rev)
		}
		return err == nil
	}, wait, tick)
}

func TestMultiInstanceEndedRendezvousReleasesInstances(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	_, _ = b.startNodes(t, 2, time.Minute)
	b.publish(t, miTask("MPI", `/bin/sh -c 'true'`, `/bin/sh -c 'true'`, 3))
	require.Eventually(t, func() bool {
		r, ok := b.rendezvous(t, "MPI")
		return ok && r.Joined() == 2
	}, wait, tick)

	// The dispatcher ends the rendezvous (the task was terminated): the
	// waiting instances leave at once, long before their timeout, and
	// report nothing.
	b.updateRendezvous(t, "MPI", func(r *protocol.Rendezvous) { r.End(time.Now()) })
	require.Eventually(t, func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	}, wait, tick)
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.events)
}

func TestMultiInstancePrimaryReportsItsRecordedResult(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	nodes, _ := b.startNodes(t, 1, time.Minute)
	// The primary ended (exit 5) but its node died before reporting it.
	start := time.Now().Add(-time.Minute)
	five := 5
	b.updateRendezvous(t, "MPI", func(r *protocol.Rendezvous) {
		r.End(time.Now())
		r.Result = &protocol.PrimaryResult{StartTime: start, EndTime: start.Add(time.Second), ExitCode: &five,
			FailureInfo: &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: "FailureExitCode"}}
	})
	b.publish(t, miTask("MPI", `/bin/sh -c 'touch ran.txt'`, `/bin/sh -c 'true'`, 2))
	ev := b.event(t, protocol.EventCompleted, "MPI")
	require.Equal(t, 5, *ev.ExitCode)
	require.Equal(t, "FailureExitCode", ev.FailureInfo.Code)
	require.True(t, ev.StartTime.Equal(start))
	require.NoFileExists(t, filepath.Join(nodes[0].taskDir("MPI"), "wd", "ran.txt"), "it does not run again")
}
