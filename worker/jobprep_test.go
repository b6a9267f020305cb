package worker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// prepTask is a task message of Job1 with a job preparation task.
func prepTask(id, cmdline string, jp *batch.JobPreparationTask) protocol.TaskMessage {
	tm := task(id, cmdline)
	tm.JobPreparation = jp
	return tm
}

// prepStatus returns the node's entry of Job1 in the job preparation bucket.
func (b *testBundle) prepStatus(t *testing.T) (protocol.JobPrepStatus, bool) {
	t.Helper()
	kv, err := b.js.KeyValue(t.Context(), topology.JobPrepBucket)
	require.NoError(t, err)
	var st protocol.JobPrepStatus
	e, err := kv.Get(t.Context(), topology.JobPrepKey(account, "job1", batch.Key(nodeID)))
	if err != nil {
		return st, false
	}
	require.NoError(t, json.Unmarshal(e.Value(), &st))
	return st, true
}

// release asks the node to run Job1's release task and returns the reply.
func (b *testBundle) release(t *testing.T, jr *batch.JobReleaseTask) *nats.Msg {
	t.Helper()
	return b.releaseJob(t, protocol.JobRelease{JobID: "Job1", Release: jr})
}

func (b *testBundle) releaseJob(t *testing.T, req protocol.JobRelease) *nats.Msg {
	t.Helper()
	body, err := json.Marshal(req)
	require.NoError(t, err)
	reply, err := b.nc.Request(topology.NodeSubject(account, batch.Key(nodeID), protocol.CmdJobRelease), body, wait)
	require.NoError(t, err)
	return reply
}

func TestJobPrepRunsOncePerNode(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	n := b.start(t, nil)
	jp := &batch.JobPreparationTask{ID: "jobpreparation",
		CommandLine:         `/bin/sh -c 'echo run >> "$AZ_BATCH_NODE_SHARED_DIR/prep"; echo "$PREP_VALUE" > prepared; sleep 1'`,
		EnvironmentSettings: []batch.NameValue{{Name: "PREP_VALUE", Value: "ready"}}}
	read := `/bin/sh -c 'cat "$AZ_BATCH_JOB_PREP_WORKING_DIR/prepared"'`
	b.publish(t, prepTask("T1", read, jp), prepTask("T2", read, jp))
	for _, id := range []string{"T1", "T2"} {
		ev := b.event(t, protocol.EventCompleted, id)
		require.Equal(t, 0, *ev.ExitCode, id)
		require.Equal(t, "ready\n", readFile(t, filepath.Join(ev.TaskRootDir, "stdout.txt")), id)
		b.event(t, protocol.EventPreparing, id) // both waited for the one run
	}
	prepLog := filepath.Join(n.cfg.RootDir, "shared", "prep")
	require.Equal(t, 1, lines(t, prepLog), "one preparation run for two concurrent tasks")

	st, ok := b.prepStatus(t)
	require.True(t, ok)
	require.Equal(t, "Job1", st.JobID)
	require.Equal(t, poolID, st.PoolID)
	require.Equal(t, nodeID, st.NodeID)
	p := st.Preparation
	require.NotNil(t, p)
	require.Equal(t, batch.StartTaskCompleted, p.State)
	require.Equal(t, batch.ResultSuccess, p.Result)
	require.Equal(t, 0, *p.ExitCode)
	require.Equal(t, n.taskDir("jobpreparation"), filepath.Join(n.cfg.RootDir, "workitems", "Job1", "job-1", filepath.Base(p.TaskRootDirectory)))
	require.Nil(t, st.Release)

	// A later task of the job does not run it again.
	b.publish(t, prepTask("T3", "true", jp))
	b.event(t, protocol.EventCompleted, "T3")
	_, preparing := b.findEvent(protocol.EventPreparing, "T3")
	require.False(t, preparing, "no preparing event once the job is prepared")
	require.Equal(t, 1, lines(t, prepLog))
}

func TestJobPrepFailureRequeuesTheTask(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	jp := &batch.JobPreparationTask{CommandLine: `/bin/sh -c 'echo run >> "$AZ_BATCH_NODE_SHARED_DIR/prep"; exit 4'`,
		Constraints: &batch.TaskConstraints{MaxTaskRetryCount: batch.Int(1)}}
	b.publish(t, prepTask("T1", "true", jp))
	ev := b.event(t, protocol.EventRequeued, "T1")
	require.Equal(t, 1, ev.Delivery)
	b.event(t, protocol.EventPreparing, "T1")
	_, completed := b.findEvent(protocol.EventCompleted, "T1")
	require.False(t, completed, "the task did not run")
	prepLog := filepath.Join(n.cfg.RootDir, "shared", "prep")
	require.Equal(t, 2, lines(t, prepLog), "one run and one retry")

	st, ok := b.prepStatus(t)
	require.True(t, ok)
	require.Equal(t, batch.StartTaskCompleted, st.Preparation.State)
	require.Equal(t, batch.ResultFailure, st.Preparation.Result)
	require.Equal(t, 4, *st.Preparation.ExitCode)
	require.Equal(t, 1, st.Preparation.RetryCount)

	// Delivered again (after the requeue delay), the node gives it back
	// without running the preparation task again.
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.events {
			if e.Type == protocol.EventRequeued && e.TaskID == "T1" && e.Delivery == 2 {
				return true
			}
		}
		return false
	}, 3*wait, tick)
	require.Equal(t, 2, lines(t, prepLog))
}

func TestJobPrepWithoutWaitForSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, nil)
	gate := filepath.Join(t.TempDir(), "go")
	jp := &batch.JobPreparationTask{WaitForSuccess: batch.Bool(false),
		CommandLine: `/bin/sh -c 'while [ ! -e "` + gate + `" ]; do sleep 0.05; done; exit 1'`}
	b.publish(t, prepTask("T1", "true", jp))
	b.event(t, protocol.EventCompleted, "T1") // ran while the preparation task did
	_, preparing := b.findEvent(protocol.EventPreparing, "T1")
	require.False(t, preparing)
	require.NoError(t, writeEmpty(gate))
	require.Eventually(t, func() bool {
		st, ok := b.prepStatus(t)
		return ok && st.Preparation != nil && st.Preparation.Result == batch.ResultFailure
	}, wait, tick)
	b.publish(t, prepTask("T2", "true", jp)) // a failure does not keep the job off the node
	b.event(t, protocol.EventCompleted, "T2")
}

func TestJobReleaseRunsOnPreparedNodeAfterRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	jp := &batch.JobPreparationTask{CommandLine: `/bin/sh -c 'echo prep > "$AZ_BATCH_NODE_SHARED_DIR/prep"'`,
		RerunOnNodeRebootAfterSuccess: batch.Bool(false)}
	b.publish(t, prepTask("T1", "true", jp))
	b.event(t, protocol.EventCompleted, "T1")

	// The agent restarts: it still knows it prepared Job1.
	require.NoError(t, n.stop(t))
	n = b.start(t, func(c *worker.Config) { c.RootDir = n.cfg.RootDir })

	// rerunOnNodeRebootAfterSuccess false: the next task does not rerun it.
	b.publish(t, prepTask("T2", "true", jp))
	b.event(t, protocol.EventCompleted, "T2")
	_, preparing := b.findEvent(protocol.EventPreparing, "T2")
	require.False(t, preparing)

	jr := &batch.JobReleaseTask{ID: "jobrelease", MaxWallClockTime: batch.D(time.Minute),
		CommandLine: `/bin/sh -c 'cat "$AZ_BATCH_NODE_SHARED_DIR/prep" > "$AZ_BATCH_NODE_SHARED_DIR/released"; echo "$AZ_BATCH_TASK_ID"'`}
	reply := b.release(t, jr)
	require.Empty(t, reply.Header.Get(protocol.ErrorHeader), string(reply.Data))
	require.Equal(t, "prep\n", readFile(t, filepath.Join(n.cfg.RootDir, "shared", "released")))
	require.Equal(t, "jobrelease\n", readFile(t, filepath.Join(n.taskDir("jobrelease"), "stdout.txt")))

	st, ok := b.prepStatus(t)
	require.True(t, ok)
	require.NotNil(t, st.Release)
	require.Equal(t, batch.StartTaskCompleted, st.Release.State)
	require.Equal(t, batch.ResultSuccess, st.Release.Result)
	require.Equal(t, 0, *st.Release.ExitCode)
	require.Equal(t, batch.ResultSuccess, st.Preparation.Result, "the preparation state is kept")

	// Released: the node forgot the job.
	reply = b.release(t, jr)
	require.Equal(t, worker.CodeJobPreparationNotRun, reply.Header.Get(protocol.ErrorHeader))
}

func TestJobReleaseOnNodeThatDidNotPrepare(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, nil)
	reply := b.release(t, &batch.JobReleaseTask{CommandLine: "true"})
	require.Equal(t, worker.CodeJobPreparationNotRun, reply.Header.Get(protocol.ErrorHeader))
	_, ok := b.prepStatus(t)
	require.False(t, ok)
}

func writeEmpty(path string) error { return os.WriteFile(path, nil, 0o644) }

func TestJobReleaseHandsDirectoriesToRetention(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	jp := &batch.JobPreparationTask{ID: "prep", CommandLine: "true",
		Constraints: &batch.TaskConstraints{RetentionTime: batch.D(time.Millisecond)}}
	b.publish(t, prepTask("T1", "true", jp))
	b.event(t, protocol.EventCompleted, "T1")
	require.DirExists(t, n.taskDir("prep"))
	reply := b.releaseJob(t, protocol.JobRelease{JobID: "Job1", Preparation: jp,
		Release: &batch.JobReleaseTask{ID: "rel", CommandLine: "true", RetentionTime: batch.D(time.Millisecond)}})
	require.Empty(t, reply.Header.Get(protocol.ErrorHeader), string(reply.Data))
	require.Eventually(t, func() bool {
		_, errPrep := os.Stat(n.taskDir("prep"))
		_, errRel := os.Stat(n.taskDir("rel"))
		return os.IsNotExist(errPrep) && os.IsNotExist(errRel)
	}, wait, tick, "the janitor removes both directories once their retention has passed")
}

func TestJobReleaseIsKilledAfterShutdownGrace(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, func(c *worker.Config) { c.ShutdownGrace = 300 * time.Millisecond })
	jp := &batch.JobPreparationTask{CommandLine: "true"}
	b.publish(t, prepTask("T1", "true", jp))
	b.event(t, protocol.EventCompleted, "T1")

	replies := make(chan *nats.Msg, 1)
	body, err := json.Marshal(protocol.JobRelease{JobID: "Job1", Release: &batch.JobReleaseTask{CommandLine: "sleep 60"}})
	require.NoError(t, err)
	go func() {
		m, err := b.nc.Request(topology.NodeSubject(account, batch.Key(nodeID), protocol.CmdJobRelease), body, wait)
		if err != nil {
			m = &nats.Msg{Header: nats.Header{protocol.ErrorHeader: []string{err.Error()}}}
		}
		replies <- m
	}()
	require.Eventually(t, func() bool {
		st, ok := b.prepStatus(t)
		return ok && st.Release != nil && st.Release.State == batch.StartTaskRunning
	}, wait, tick)
	start := time.Now()
	require.NoError(t, n.stop(t))
	require.Less(t, time.Since(start), 5*time.Second, "the release task does not hold the stop beyond its grace")
	reply := <-replies
	require.Equal(t, "InternalError", reply.Header.Get(protocol.ErrorHeader), "an interrupted release is an error")
}
