package local

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natch-io/natch/scaler"
)

// helperEnv makes the test binary a parent that starts one node and waits:
// TestChildrenDieWithTheirParent kills it.
const helperEnv = "NATCH_LOCAL_TEST_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helper(dir))
	}
	goleak.VerifyTestMain(m)
}

const (
	wait = 10 * time.Second
	poll = 10 * time.Millisecond
	// politeWorker prints its arguments and exits on SIGTERM.
	politeWorker = `echo "$0 $@"; trap "exit 0" TERM; while :; do sleep 0.05; done`
	// stubbornWorker ignores SIGTERM and has a child in its process group.
	// bg.pid appears once SIGTERM is ignored.
	stubbornWorker = `trap "" TERM; sleep 1000 & echo $! > bg.pid; while :; do sleep 0.05; done`
)

type testBundle struct {
	root string
	prov *Provider
}

func setup(t *testing.T, script string, grace time.Duration) *testBundle {
	t.Helper()
	root := t.TempDir()
	p, err := New(Config{Command: []string{"sh", "-c", script}, NatsURL: "nats://127.0.0.1:1", RootDir: root,
		AccountURL: "http://127.0.0.1:2/", ExtraArgs: []string{"--extra"}, StopGrace: grace})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close(context.Background())) })
	return &testBundle{root: root, prov: p}
}

func spec(id string, dedicated bool) scaler.NodeSpec {
	return scaler.NodeSpec{Account: "acct", PoolID: "Pool1", NodeID: id, Dedicated: dedicated, VMSize: "standard_a1", Slots: 2}
}

// bgPid waits for a stubborn worker to be ready and returns its child's pid.
func (b *testBundle) bgPid(t *testing.T, id string) int {
	t.Helper()
	var bg int
	require.Eventually(t, func() bool {
		out, err := os.ReadFile(filepath.Join(b.root, id, "bg.pid"))
		bg, _ = strconv.Atoi(strings.TrimSpace(string(out)))
		return err == nil && bg > 0
	}, wait, poll)
	return bg
}

func (b *testBundle) pid(id string) int {
	b.prov.mu.Lock()
	defer b.prov.mu.Unlock()
	return b.prov.procs[id].pid
}

// gone reports whether a process is gone (or a zombie: dead, not reaped by
// an init that does not reap).
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

func TestStartPassesNodeFlagsAndStopEndsWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, politeWorker, time.Minute)
	require.NoError(t, b.prov.Start(t.Context(), spec("n1", false)))
	require.True(t, b.prov.Alive("n1"))
	pid := b.pid("n1")
	dir := filepath.Join(b.root, "n1")
	require.Equal(t, dir, b.prov.Dir("n1"))

	var line string
	require.Eventually(t, func() bool {
		out, _ := os.ReadFile(filepath.Join(dir, LogFile))
		line = string(out)
		return strings.HasSuffix(line, "\n")
	}, wait, poll)
	require.Equal(t, "--nats-url nats://127.0.0.1:1 --account acct --pool Pool1 --node-id n1 --root-dir "+dir+
		" --slots 2 --exit-with-parent --vm-size standard_a1 --low-priority --account-url http://127.0.0.1:2/ --extra\n", line)

	require.NoError(t, b.prov.Stop(t.Context(), "n1"))
	require.NoError(t, b.prov.Stop(t.Context(), "n1"), "Stop is idempotent")
	require.Eventually(t, func() bool { return !b.prov.Alive("n1") }, wait, poll)
	require.True(t, gone(pid))
	require.NoError(t, b.prov.Stop(t.Context(), "n1"), "stopping a gone node is no error")
	require.NoError(t, b.prov.Stop(t.Context(), "unknown"))
	require.False(t, b.prov.Alive("unknown"))

	// The same id may start again once gone; its log is appended to.
	require.NoError(t, b.prov.Start(t.Context(), spec("n1", true)))
	require.Eventually(t, func() bool {
		out, _ := os.ReadFile(filepath.Join(dir, LogFile))
		return strings.Count(string(out), "--node-id n1") == 2 && !strings.Contains(strings.SplitN(string(out), "\n", 2)[1], "--low-priority")
	}, wait, poll)
}

func TestStopKillsTheGroupAfterGrace(t *testing.T) {
	t.Parallel()
	b := setup(t, stubbornWorker, 200*time.Millisecond)
	require.NoError(t, b.prov.Start(t.Context(), spec("n1", true)))
	pid := b.pid("n1")
	bg := b.bgPid(t, "n1")

	require.NoError(t, b.prov.Stop(t.Context(), "n1"))
	require.Never(t, func() bool { return !b.prov.Alive("n1") }, 100*time.Millisecond, poll, "SIGTERM is ignored")
	require.Eventually(t, func() bool { return !b.prov.Alive("n1") }, wait, poll)
	require.True(t, gone(pid))
	require.Eventually(t, func() bool { return gone(bg) }, wait, poll, "the worker's process group is killed")
}

func TestKill(t *testing.T) {
	t.Parallel()
	b := setup(t, stubbornWorker, time.Hour)
	require.NoError(t, b.prov.Start(t.Context(), spec("n1", true)))
	pid := b.pid("n1")
	require.Equal(t, []string{"n1"}, b.prov.Nodes())
	require.NoError(t, b.prov.Kill("n1"))
	require.Eventually(t, func() bool { return !b.prov.Alive("n1") }, wait, poll)
	require.True(t, gone(pid))
	require.Empty(t, b.prov.Nodes())
	require.NoError(t, b.prov.Kill("n1"))
}

// taskWorker ignores SIGTERM and runs a "task" in a process group of its
// own, as a worker does; task.pid appears once it runs.
const taskWorker = `trap "" TERM; setsid sleep 1000 & echo $! > task.pid; while :; do sleep 0.05; done`

// TestPreempt: Preempt kills the node's worker and its tasks' process
// groups at once, ignoring its grace, and Preempted says so from then on.
func TestPreempt(t *testing.T) {
	t.Parallel()
	b := setup(t, taskWorker, time.Hour)
	require.NoError(t, b.prov.Start(t.Context(), spec("n1", false)))
	require.NoError(t, b.prov.Start(t.Context(), spec("n2", false)))
	pid := b.pid("n1")
	var task int
	require.Eventually(t, func() bool {
		out, err := os.ReadFile(filepath.Join(b.root, "n1", "task.pid"))
		task, _ = strconv.Atoi(strings.TrimSpace(string(out)))
		return err == nil && task > 0
	}, wait, poll)
	require.False(t, b.prov.Preempted("n1"))
	require.NoError(t, b.prov.Preempt("n1"))
	require.Eventually(t, func() bool { return !b.prov.Alive("n1") }, wait, poll)
	require.True(t, gone(pid))
	require.Eventually(t, func() bool { return gone(task) }, wait, poll, "the task's own process group is killed too")
	require.True(t, b.prov.Preempted("n1"))
	require.False(t, b.prov.Preempted("n2"))
	require.True(t, b.prov.Alive("n2"))
	require.NoError(t, b.prov.Preempt("n1"), "a gone node is no error")
	require.NoError(t, b.prov.Preempt("unknown"))
	require.False(t, b.prov.Preempted("unknown"), "unknown nodes are not marked")
	require.NoError(t, b.prov.Kill("n2")) // it ignores SIGTERM: Close would wait out the grace
	require.Eventually(t, func() bool { return !b.prov.Alive("n2") }, wait, poll)
}

func TestParentAndGroup(t *testing.T) {
	t.Parallel()
	ppid, pgid, ok := parentAndGroup("123 (my (odd) cmd) S 45 67 67 0 -1 4194560")
	require.True(t, ok)
	require.Equal(t, []int{45, 67}, []int{ppid, pgid})
	_, _, ok = parentAndGroup("123 (x) S")
	require.False(t, ok)
}

func TestCloseStopsEveryWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, politeWorker, time.Hour)
	var pids []int
	for i := range 3 {
		id := fmt.Sprintf("n%d", i)
		require.NoError(t, b.prov.Start(t.Context(), spec(id, true)))
		pids = append(pids, b.pid(id))
	}
	require.NoError(t, b.prov.Close(t.Context()))
	for _, pid := range pids {
		require.True(t, gone(pid))
	}
	require.Empty(t, b.prov.Nodes())
	require.ErrorIs(t, b.prov.Start(t.Context(), spec("late", true)), ErrClosed)
}

func TestCloseKillsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	b := setup(t, stubbornWorker, time.Hour)
	require.NoError(t, b.prov.Start(t.Context(), spec("n1", true)))
	pid := b.pid("n1")
	bg := b.bgPid(t, "n1")
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.prov.Close(ctx), context.DeadlineExceeded)
	require.True(t, gone(pid))
	require.Eventually(t, func() bool { return gone(bg) }, wait, poll)
}

func TestStartRejects(t *testing.T) {
	t.Parallel()
	b := setup(t, politeWorker, time.Hour)
	for _, id := range []string{"", ".", "..", "a/b", "../x"} {
		require.ErrorContains(t, b.prov.Start(t.Context(), spec(id, true)), "invalid node id", "id %q", id)
	}
	require.NoError(t, b.prov.Start(t.Context(), spec("n1", true)))
	require.ErrorContains(t, b.prov.Start(t.Context(), spec("n1", true)), "already running")

	_, err := New(Config{RootDir: "x"})
	require.ErrorContains(t, err, "NatsURL")
	_, err = New(Config{NatsURL: "nats://x"})
	require.ErrorContains(t, err, "RootDir")
	p, err := New(Config{NatsURL: "nats://x", RootDir: "x"})
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	require.Equal(t, []string{exe, "worker"}, p.cfg.Command)
}

// A child's parent-death signal fires when the thread that forked it ends.
// Starting from a goroutine whose thread the runtime then ends must not kill
// the child. (The runtime does not end the main thread: when the starter
// lands there, keep it busy and try again.)
func TestWorkersSurviveTheirStartersThread(t *testing.T) {
	t.Parallel()
	b := setup(t, politeWorker, time.Hour)
	var wg sync.WaitGroup
	release := make(chan struct{})
	for {
		onMain := make(chan bool, 1)
		wg.Go(func() {
			runtime.LockOSThread() // never unlocked off the main thread: the thread ends with the goroutine
			if syscall.Gettid() == os.Getpid() {
				onMain <- true
				<-release
				runtime.UnlockOSThread()
				return
			}
			onMain <- false
			require.NoError(t, b.prov.Start(context.Background(), spec("n1", true)))
		})
		if !<-onMain {
			break
		}
	}
	close(release)
	wg.Wait()
	require.Never(t, func() bool { return !b.prov.Alive("n1") }, 300*time.Millisecond, poll)
}

// Workers never outlive natch: kill a parent (with SIGKILL, so it cleans up
// nothing) and its worker dies too.
func TestChildrenDieWithTheirParent(t *testing.T) {
	t.Parallel()
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), helperEnv+"="+t.TempDir())
	stdin, err := parent.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := parent.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, parent.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err, "helper said %q", line)
	require.False(t, gone(child))

	require.NoError(t, parent.Process.Kill())
	_ = parent.Wait()
	require.Eventually(t, func() bool { return gone(child) }, wait, poll)
}

// helper starts one node, prints its pid and waits for stdin to close.
func helper(root string) int {
	p, err := New(Config{Command: []string{"sh", "-c", politeWorker}, NatsURL: "nats://x", RootDir: root})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := p.Start(context.Background(), spec("n1", true)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p.mu.Lock()
	fmt.Println(p.procs["n1"].pid)
	p.mu.Unlock()
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = p.Close(context.Background())
	return 0
}
