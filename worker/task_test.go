package worker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
	"github.com/natch-io/natch/worker/run"
)

func TestTaskSuccessCapturesStdout(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, func(c *worker.Config) { c.RunningReportDelay = time.Minute })
	tm := task("T1", `/bin/sh -c 'echo hello; echo oops >&2'`)
	tm.Attempt = 2
	b.publish(t, tm)

	ev := b.event(t, protocol.EventCompleted, "T1")
	require.Equal(t, account, ev.Account)
	require.Equal(t, "Job1", ev.JobID)
	require.Equal(t, poolID, ev.PoolID)
	require.Equal(t, nodeID, ev.NodeID)
	require.Equal(t, 2, ev.Attempt)
	require.Equal(t, 1, ev.Delivery)
	require.NotNil(t, ev.ExitCode)
	require.Equal(t, 0, *ev.ExitCode)
	require.Nil(t, ev.FailureInfo)
	require.False(t, ev.StartTime.IsZero())
	require.False(t, ev.EndTime.Before(ev.StartTime))
	require.Equal(t, n.taskDir("T1"), ev.TaskRootDir)
	require.Equal(t, "hello\n", readFile(t, filepath.Join(ev.TaskRootDir, "stdout.txt")))
	require.Equal(t, "oops\n", readFile(t, filepath.Join(ev.TaskRootDir, "stderr.txt")))
	require.DirExists(t, filepath.Join(ev.TaskRootDir, "wd"))
	_, running := b.findEvent(protocol.EventRunning, "T1")
	require.False(t, running, "a short task costs one event")

	// Acked: the work-queue stream drops the message.
	require.Eventually(t, func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	}, wait, tick)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.TotalTasksRun == 1 && rec.TotalTasksSucceeded == 1 && rec.State == batch.NodeIdle
	}, wait, tick)
}

func TestTaskNonZeroExit(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, nil)
	b.publish(t, task("T1", "/bin/sh -c 'exit 7'"))
	ev := b.event(t, protocol.EventCompleted, "T1")
	require.Equal(t, 7, *ev.ExitCode)
	require.Equal(t, &batch.TaskFailureInformation{Category: "usererror", Code: "FailureExitCode",
		Message: "The task process exited with an unexpected exit code"}, ev.FailureInfo)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.TotalTasksRun == 1 && rec.TotalTasksSucceeded == 0
	}, wait, tick)
}

func TestTaskProgramNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, nil)
	b.publish(t, task("T1", "no-such-program-natch --flag"))
	ev := b.event(t, protocol.EventCompleted, "T1")
	require.Nil(t, ev.ExitCode)
	require.Equal(t, "usererror", ev.FailureInfo.Category)
	require.Equal(t, protocol.CodeProgramNotFound, ev.FailureInfo.Code)
	require.Contains(t, ev.FailureInfo.Message, "no-such-program-natch")
}

func TestTaskQuoting(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	n := b.start(t, nil)
	b.publish(t,
		task("Shell", `/bin/sh -c 'echo a b'`),
		task("OneArg", `/bin/sh -c 'echo $#' zero 'a b'`),
	)
	b.event(t, protocol.EventCompleted, "Shell")
	b.event(t, protocol.EventCompleted, "OneArg")
	require.Equal(t, "a b\n", readFile(t, filepath.Join(n.taskDir("Shell"), "stdout.txt")))
	require.Equal(t, "1\n", readFile(t, filepath.Join(n.taskDir("OneArg"), "stdout.txt")))
}

func TestTaskEnvironment(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	tm := task("EnvTask", "env")
	tm.JobEnvironment = []batch.NameValue{{Name: "FROM_JOB", Value: "job"}, {Name: "BOTH", Value: "job"}}
	tm.Task.EnvironmentSettings = []batch.NameValue{{Name: "FROM_TASK", Value: "task value"}, {Name: "BOTH", Value: "task"}}
	b.publish(t, tm)
	ev := b.event(t, protocol.EventCompleted, "EnvTask")
	require.Equal(t, 0, *ev.ExitCode)

	env := map[string]string{}
	for line := range strings.Lines(readFile(t, filepath.Join(ev.TaskRootDir, "stdout.txt"))) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
			env[k] = v
		}
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(ev.TaskRootDir))))
	want := map[string]string{
		"AZ_BATCH_ACCOUNT_NAME":      account,
		"AZ_BATCH_ACCOUNT_URL":       "http://127.0.0.1:8765",
		"AZ_BATCH_JOB_ID":            "Job1",
		"AZ_BATCH_TASK_ID":           "EnvTask",
		"AZ_BATCH_POOL_ID":           poolID,
		"AZ_BATCH_NODE_ID":           nodeID,
		"AZ_BATCH_NODE_IS_DEDICATED": "true",
		"AZ_BATCH_NODE_ROOT_DIR":     root,
		"AZ_BATCH_NODE_SHARED_DIR":   filepath.Join(root, "shared"),
		"AZ_BATCH_NODE_STARTUP_DIR":  filepath.Join(root, "startup"),
		"AZ_BATCH_NODE_MOUNTS_DIR":   filepath.Join(root, "fsmounts"),
		"AZ_BATCH_TASK_DIR":          n.taskDir("EnvTask"),
		"AZ_BATCH_TASK_WORKING_DIR":  filepath.Join(n.taskDir("EnvTask"), "wd"),
		"FROM_JOB":                   "job",
		"FROM_TASK":                  "task value",
		"BOTH":                       "task",
		"PATH":                       os.Getenv("PATH"), // the worker's own environment
	}
	for k, v := range want {
		require.Equal(t, v, env[k], k)
	}
	for _, d := range []string{"shared", "startup", "applications", "workitems", "fsmounts", "volatile"} {
		require.DirExists(t, filepath.Join(root, d))
	}
}

func TestTaskRunningEventForLongerTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, nil)
	b.publish(t, task("Slow", "sleep 0.3"))
	running := b.event(t, protocol.EventRunning, "Slow")
	completed := b.event(t, protocol.EventCompleted, "Slow")
	require.Equal(t, running.StartTime, completed.StartTime)
	require.Nil(t, running.ExitCode)
	require.Equal(t, 1, running.Delivery)
}

func TestTaskMaxWallClockTime(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	pids := filepath.Join(t.TempDir(), "pids")
	tm := task("Wall", `/bin/sh -c 'sleep 60 & echo $! > `+pids+`; echo $$ >> `+pids+`; sleep 60'`)
	tm.Task.Constraints = &batch.TaskConstraints{MaxWallClockTime: batch.D(500 * time.Millisecond)}
	b.publish(t, tm)
	ev := b.event(t, protocol.EventCompleted, "Wall")
	require.Equal(t, 128+int(syscall.SIGKILL), *ev.ExitCode)
	require.Equal(t, &batch.TaskFailureInformation{Category: "usererror", Code: "MaxWallClockTimeExpiry",
		Message: "The task exceeded its maximum wall clock time and was terminated."}, ev.FailureInfo)
	require.Less(t, ev.EndTime.Sub(ev.StartTime), 10*time.Second)
	fields := strings.Fields(readFile(t, pids))
	require.Len(t, fields, 2)
	require.Eventually(t, func() bool {
		for _, f := range fields {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err)
			if syscall.Kill(pid, 0) != syscall.ESRCH {
				return false
			}
		}
		return true
	}, wait, tick, "both sleeps are gone")
	require.FileExists(t, filepath.Join(n.taskDir("Wall"), "stdout.txt"))
}

func TestTaskSlotsLimitConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	n := b.start(t, nil)
	// Each task counts the tasks in the shared directory while it is there.
	const script = `/bin/sh -c 'touch "$AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_TASK_ID"; ls "$AZ_BATCH_NODE_SHARED_DIR" | wc -l; ` +
		`sleep 0.3; rm "$AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_TASK_ID"'`
	var ids []string
	for i := range 6 {
		id := "S" + strconv.Itoa(i)
		ids = append(ids, id)
		b.publish(t, task(id, script))
	}
	// Only as many messages as slots are taken from the consumer.
	require.Eventually(t, func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 2 && info.NumPending == 4
	}, wait, tick)
	require.Eventually(t, func() bool {
		rec, ok := b.record(t)
		return ok && rec.State == batch.NodeRunning && rec.RunningTasksCount == 2 && len(rec.RunningTasks) == 2
	}, wait, tick)
	most := 0
	for _, id := range ids {
		ev := b.event(t, protocol.EventCompleted, id)
		require.Equal(t, 0, *ev.ExitCode)
		c, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(n.taskDir(id), "stdout.txt"))))
		require.NoError(t, err)
		require.LessOrEqual(t, c, 2, "task %s ran with %d tasks", id, c)
		most = max(most, c)
	}
	require.Equal(t, 2, most)
	rec, ok := b.record(t)
	require.True(t, ok)
	require.Equal(t, 2, rec.Slots)
}

func TestTaskRequiredSlots(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	n := b.start(t, nil)
	const script = `/bin/sh -c 'touch "$AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_TASK_ID"; ls "$AZ_BATCH_NODE_SHARED_DIR" | wc -l; ` +
		`sleep 0.2; rm "$AZ_BATCH_NODE_SHARED_DIR/$AZ_BATCH_TASK_ID"'`
	wide := task("Wide", script)
	wide.Task.RequiredSlots = batch.Int(2)
	b.publish(t, task("Narrow1", script), wide, task("Narrow2", script))
	for _, id := range []string{"Narrow1", "Wide", "Narrow2"} {
		b.event(t, protocol.EventCompleted, id)
	}
	require.Equal(t, "1", strings.TrimSpace(readFile(t, filepath.Join(n.taskDir("Wide"), "stdout.txt"))))
}

func TestTerminateCommand(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, nil)
	tm := task("Long", "sleep 60")
	tm.Attempt = 1
	b.publish(t, tm)
	b.event(t, protocol.EventRunning, "Long")

	subject := topology.NodeSubject(account, batch.Key(nodeID), protocol.CmdTerminateTask)
	req := func(body protocol.TerminateTask) string {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		reply, err := b.nc.Request(subject, data, wait)
		require.NoError(t, err)
		return reply.Header.Get(protocol.ErrorHeader)
	}
	require.Equal(t, worker.CodeTaskNotFound, req(protocol.TerminateTask{JobID: "job1", TaskID: "long", Attempt: 0}))
	require.Empty(t, req(protocol.TerminateTask{JobID: "job1", TaskID: "long", Attempt: 1}))

	ev := b.event(t, protocol.EventCompleted, "Long")
	require.Equal(t, 128+int(syscall.SIGKILL), *ev.ExitCode)
	require.Equal(t, &batch.TaskFailureInformation{Category: "usererror", Code: "TaskEnded",
		Message: "The task was terminated by user request."}, ev.FailureInfo)

	b.publish(t, task("Long2", "sleep 60"))
	b.event(t, protocol.EventRunning, "Long2")
	require.Empty(t, req(protocol.TerminateTask{JobID: "Job1", TaskID: "Long2", Reason: "job terminated"}))
	ev = b.event(t, protocol.EventCompleted, "Long2")
	require.Equal(t, "job terminated", ev.FailureInfo.Message)
}

func TestGracefulShutdownRequeues(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	n := b.start(t, func(c *worker.Config) { c.ShutdownGrace = 300 * time.Millisecond })
	b.publish(t, task("Long", "sleep 60"), task("Short", "sleep 0.1"))
	b.event(t, protocol.EventRunning, "Long")
	b.event(t, protocol.EventRunning, "Short")
	start := time.Now()
	require.NoError(t, n.stop(t))
	require.Less(t, time.Since(start), 10*time.Second)

	ev := b.event(t, protocol.EventRequeued, "Long")
	require.Equal(t, 1, ev.Delivery)
	require.Nil(t, ev.FailureInfo)
	b.event(t, protocol.EventCompleted, "Short") // ended within the grace
	_, ok := b.findEvent(protocol.EventCompleted, "Long")
	require.False(t, ok)
	_, ok = b.record(t)
	require.False(t, ok, "the node record is deleted on stop")

	// The message was Nak'd: it is delivered again, at once.
	cons, err := b.js.Consumer(t.Context(), topology.TasksStream, topology.PoolConsumer(account, batch.Key(poolID)))
	require.NoError(t, err)
	msg, err := cons.Next()
	require.NoError(t, err)
	md, err := msg.Metadata()
	require.NoError(t, err)
	require.Equal(t, uint64(2), md.NumDelivered)
	var tm protocol.TaskMessage
	require.NoError(t, json.Unmarshal(msg.Data(), &tm))
	require.Equal(t, "Long", tm.Task.ID)
	require.NoError(t, msg.Ack())
}

func TestInvalidTaskMessageIsTerminated(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.start(t, nil)
	_, err := b.js.Publish(t.Context(), topology.TaskSubject(account, batch.Key(poolID), "job1", "bad"), []byte("{not json"))
	require.NoError(t, err)
	bad := task("bad%id", "true")
	b.publish(t, bad)
	b.publish(t, task("Good", "true"))
	b.event(t, protocol.EventCompleted, "Good")
	require.Eventually(t, func() bool {
		info := b.consumer(t)
		return info.NumAckPending == 0 && info.NumPending == 0
	}, wait, tick)
}

func TestRetentionRemovesTaskDir(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	n := b.start(t, nil)
	gone := task("Gone", "true")
	gone.Task.Constraints = &batch.TaskConstraints{RetentionTime: batch.D(0)}
	kept := task("Kept", "true")
	inf := batch.Infinite
	kept.Task.Constraints = &batch.TaskConstraints{RetentionTime: &inf}
	b.publish(t, gone, kept)
	b.event(t, protocol.EventCompleted, "Gone")
	b.event(t, protocol.EventCompleted, "Kept")
	require.Eventually(t, func() bool {
		_, err := os.Stat(n.taskDir("Gone"))
		return os.IsNotExist(err)
	}, wait, tick)
	require.DirExists(t, n.taskDir("Kept"))

	// The journal of an earlier worker is honoured after a restart too.
	old := filepath.Join(n.cfg.RootDir, "workitems", "OldJob", "job-1", "OldTask")
	require.NoError(t, os.MkdirAll(filepath.Join(old, run.WorkingDir), 0o755))
	past := time.Now().Add(-time.Minute)
	line := strconv.FormatInt(past.UnixNano(), 10) + " " + strconv.FormatInt(past.UnixNano(), 10) + " workitems/OldJob/job-1/OldTask\n"
	require.NoError(t, os.WriteFile(filepath.Join(n.cfg.RootDir, worker.RetentionDir, "1.log"), []byte(line), 0o644))
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(n.cfg.RootDir, "workitems", "OldJob"))
		return os.IsNotExist(err)
	}, wait, tick)
}

func TestProgressAcksKeepLongTasks(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2, ackWait: time.Second})
	b.start(t, nil)
	b.publish(t, task("Long", "sleep 2.5"))
	ev := b.event(t, protocol.EventCompleted, "Long")
	require.Equal(t, 1, ev.Delivery)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range b.events {
		require.Equal(t, 1, ev.Delivery, "the task was redelivered: %+v", ev)
	}
}
