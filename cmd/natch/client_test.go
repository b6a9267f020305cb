package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/producer/producertest"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/config"
)

type cliBundle struct {
	srv *producertest.Server
	env map[string]string
}

func setupCLI(t *testing.T) *cliBundle {
	t.Helper()
	srv := producertest.NewServer(t)
	return &cliBundle{srv: srv, env: map[string]string{
		config.EnvURL:     srv.URL,
		config.EnvAccount: producertest.Account,
		config.EnvKey:     producertest.Key,
		config.EnvConfig:  filepath.Join(t.TempDir(), "none.json"), // hermetic: no connection file
	}}
}

// run runs the natch client commands with args and returns what they printed.
func (b *cliBundle) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "natch", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(clientCommands(func(k string) string { return b.env[k] })...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func (b *cliBundle) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, err := b.run(t, args...)
	require.NoError(t, err, out)
	return out
}

// fields splits table output into rows of whitespace-separated cells.
func fields(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func TestCLIPools(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	require.Equal(t, "created pool pool1\n", b.ok(t, "pool", "create", "pool1", "--nodes", "2", "--slots", "4"))
	require.Equal(t, [][]string{
		{"ID", "STATE", "ALLOC", "NODES", "SLOTS", "VMSIZE"},
		{"pool1", "active", "steady", "2/2", "4", "standard_d2s_v3"},
	}, fields(b.ok(t, "pool", "list")))

	var pools []batch.Pool
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "pool", "list", "-o", "json")), &pools))
	require.Len(t, pools, 1)
	require.Equal(t, 4, *pools[0].TaskSlotsPerNode)

	show := b.ok(t, "pool", "show", "pool1")
	require.Contains(t, show, "Nodes (current/target):  2/2")
	var p batch.Pool
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "pool", "show", "pool1", "-o", "json")), &p))
	require.Equal(t, "pool1", p.ID)

	require.Equal(t, "resizing pool pool1 to 3 dedicated and 1 low-priority nodes\n",
		b.ok(t, "pool", "resize", "pool1", "--nodes", "3", "--low-priority", "1"))
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "pool", "show", "pool1", "-o", "json")), &p))
	require.Equal(t, 3, *p.TargetDedicatedNodes)
	require.Equal(t, 1, *p.TargetLowPriorityNodes)

	b.srv.AddNode("pool1", batch.ComputeNode{ID: "node-1", State: batch.NodeRunning, RunningTasksCount: 2, TotalTasksRun: 7, IPAddress: "127.0.0.1"})
	require.Equal(t, []string{"node-1", "running", "-", "2", "7", "127.0.0.1"}, fields(b.ok(t, "pool", "nodes", "pool1"))[1])

	// --from-json, with flags overriding the file.
	file := filepath.Join(t.TempDir(), "pool.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"id":"pool2","vmSize":"standard_f4","targetDedicatedNodes":5,"taskSlotsPerNode":2}`), 0o600))
	out := b.ok(t, "pool", "create", "--from-json", file, "--nodes", "1", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	require.Equal(t, "pool2", p.ID)
	require.Equal(t, "standard_f4", p.VMSize)
	require.Equal(t, 1, *p.TargetDedicatedNodes)
	require.Equal(t, 2, *p.TaskSlotsPerNode)

	require.Equal(t, "deleting pool pool1\n", b.ok(t, "pool", "delete", "pool1"))
	_, err := b.run(t, "pool", "resize", "pool2")
	require.ErrorContains(t, err, `"nodes" not set`)
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	_, err := b.run(t, "pool", "show", "nope")
	require.EqualError(t, err, "PoolNotFound: The specified pool does not exist.")
	require.ErrorIs(t, err, batch.ErrPoolNotFound)

	_, err = b.run(t, "pool", "create", "bad.id")
	require.EqualError(t, err, "InvalidPropertyValue: The value provided for one of the properties in the request body is invalid. "+
		"(PropertyName=id, Reason=the id may contain only letters, digits, hyphens and underscores)")

	_, err = b.run(t, "job", "list", "-o", "yaml")
	require.ErrorContains(t, err, `unknown output format "yaml"`)

	b.env[config.EnvKey] = "c2VjcmV0"
	_, err = b.run(t, "job", "list")
	require.ErrorContains(t, err, "AuthenticationFailed: ")
	// A flag wins over the environment.
	b.ok(t, "job", "list", "--key", producertest.Key)

	b.env = map[string]string{config.EnvConfig: filepath.Join(t.TempDir(), "none.json")}
	_, err = b.run(t, "job", "list")
	require.ErrorContains(t, err, "no natch endpoint")
	_, err = b.run(t, "job", "list", "--url", b.srv.URL, "--account", producertest.Account, "--key", producertest.Key)
	require.NoError(t, err)

	// The connection file natch up writes.
	dir := t.TempDir()
	require.NoError(t, config.Write(dir, config.Connection{URL: b.srv.URL, Account: producertest.Account, Key: producertest.Key}))
	b.env[config.EnvConfig] = filepath.Join(dir, config.ConnectionFile)
	b.ok(t, "job", "list")
}

func TestCLIJobsAndTasks(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "pool", "create", "pool1")
	require.Equal(t, "created job job1 on pool pool1\n",
		b.ok(t, "job", "create", "job1", "--pool", "pool1", "--max-retries", "2", "--terminate-on-complete"))
	var j batch.Job
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "job", "show", "job1", "-o", "json")), &j))
	require.Equal(t, 2, *j.Constraints.MaxTaskRetryCount)
	require.Equal(t, batch.OnAllTasksTerminate, j.OnAllTasksComplete)

	// A command after --, quoted so that the worker splits it back.
	require.Equal(t, "added task t1 to job job1\n", b.ok(t, "task", "add", "job1", "t1", "--", "sh", "-c", "echo it's > out.txt"))
	t1, ok := b.srv.Task("job1", "t1")
	require.True(t, ok)
	require.Equal(t, `sh -c 'echo it'"'"'s > out.txt'`, t1.CommandLine)

	// --command-line with an automatic id, env and constraints, as JSON.
	out := b.ok(t, "task", "add", "job1", "--command-line", "python3 x.py", "--env", "MODE=fast", "--env", "EMPTY=",
		"--max-retries", "3", "--max-wall-clock", "10m", "-o", "json")
	var auto batch.Task
	require.NoError(t, json.Unmarshal([]byte(out), &auto))
	require.True(t, strings.HasPrefix(auto.ID, "task-"), auto.ID)
	require.Equal(t, []batch.NameValue{{Name: "MODE", Value: "fast"}, {Name: "EMPTY", Value: ""}}, auto.EnvironmentSettings)
	require.Equal(t, 3, *auto.Constraints.MaxTaskRetryCount)
	require.Equal(t, 10*time.Minute, auto.Constraints.MaxWallClockTime.Std())

	// --count goes through addtaskcollection.
	require.Equal(t, "added 150 of 150 tasks to job job1\n", b.ok(t, "task", "add", "job1", "demo", "--count", "150", "--", "true"))
	_, ok = b.srv.Task("job1", "demo-150")
	require.True(t, ok)
	collections := 0
	for _, r := range b.srv.Requests() {
		if r.Method == http.MethodPost && r.Path == "/jobs/job1/addtaskcollection" {
			collections++
		}
	}
	require.Equal(t, 2, collections)

	// --from-json: an array (one already exists) and a single task.
	dir := t.TempDir()
	arr := filepath.Join(dir, "tasks.json")
	require.NoError(t, os.WriteFile(arr, []byte(`[{"id":"j1","commandLine":"a"},{"id":"t1","commandLine":"b"}]`), 0o600))
	out, err := b.run(t, "task", "add", "job1", "--from-json", arr)
	require.EqualError(t, err, "1 of 2 tasks were not added")
	require.Contains(t, out, "t1    clienterror  TaskExists: The specified task already exists.")
	require.Contains(t, out, "added 1 of 2 tasks to job job1")
	one := filepath.Join(dir, "task.json")
	require.NoError(t, os.WriteFile(one, []byte(`{"id":"single","commandLine":"c"}`), 0o600))
	require.Equal(t, "added task single to job job1\n", b.ok(t, "task", "add", "job1", "--from-json", one))

	_, err = b.run(t, "task", "add", "job1", "x")
	require.ErrorContains(t, err, "no command")
	_, err = b.run(t, "task", "add", "job1", "--env", "NOEQUALS", "--", "true")
	require.ErrorContains(t, err, "want NAME=VALUE")

	// Complete some, then list and show.
	require.True(t, b.srv.CompleteTask("job1", "t1", 0))
	require.True(t, b.srv.CompleteTask("job1", "j1", 3))
	require.Equal(t, [][]string{
		{"ID", "STATE", "EXIT", "RETRIES", "NODE", "WAITING"},
		{"j1", "completed", "3", "0", "node-1", "-"},
		{"t1", "completed", "0", "0", "node-1", "-"},
	}, fields(b.ok(t, "task", "list", "job1", "--state", "completed")))
	var tasks []batch.Task
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "task", "list", "job1", "-o", "json")), &tasks))
	require.Equal(t, 154, len(tasks))
	show := b.ok(t, "task", "show", "job1", "j1")
	require.Contains(t, show, "Exit code:     3")
	require.Contains(t, show, "Failure:       FailureExitCode:")

	b.srv.SetFile("job1", "t1", "stdout.txt", []byte("hello\n"))
	b.srv.SetFile("job1", "t1", "stderr.txt", []byte("oops\n"))
	require.Equal(t, "hello\n", b.ok(t, "task", "logs", "job1", "t1"))
	require.Equal(t, "oops\n", b.ok(t, "task", "logs", "job1", "t1", "--stderr"))
	_, err = b.run(t, "task", "logs", "job1", "j1")
	require.EqualError(t, err, "FileNotFound: The specified file does not exist.")

	b.ok(t, "job", "create", "job2", "--pool", "pool1")
	require.Equal(t, [][]string{
		{"ID", "STATE", "POOL", "ACTIVE", "RUNNING", "COMPLETED", "FAILED"},
		{"job1", "active", "pool1", "152", "0", "2", "1"},
		{"job2", "active", "pool1", "0", "0", "0", "0"},
	}, fields(b.ok(t, "job", "list")))
	require.Contains(t, b.ok(t, "job", "show", "job1"), "active 152, running 0, completed 2 (succeeded 1, failed 1)")

	require.Equal(t, "terminated task single of job job1\n", b.ok(t, "task", "terminate", "job1", "single"))
	require.Equal(t, "deleted task single of job job1\n", b.ok(t, "task", "delete", "job1", "single"))
	require.Equal(t, "terminating job job1\n", b.ok(t, "job", "terminate", "job1", "--reason", "enough"))
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "job", "show", "job1", "-o", "json")), &j))
	require.Equal(t, "enough", j.ExecutionInfo.TerminateReason)
	require.Equal(t, "deleting job job2\n", b.ok(t, "job", "delete", "job2"))
}

// completeOnPoll completes one more of the given tasks on each taskcounts
// poll, the first one with exit code 1.
func completeOnPoll(b *cliBundle, job string, ids ...string) {
	var n atomic.Int32
	b.srv.Before(func(r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/taskcounts") {
			return
		}
		i := int(n.Add(1)) - 1
		if i < len(ids) {
			code := 0
			if i == 0 {
				code = 1
			}
			b.srv.CompleteTask(job, ids[i], code)
		}
	})
}

func TestCLIJobWait(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "job", "create", "job1", "--pool", "pool1")
	b.ok(t, "task", "add", "job1", "t", "--count", "3", "--", "true")
	completeOnPoll(b, "job1", "t-1", "t-2", "t-3")

	out := b.ok(t, "job", "wait", "job1", "--interval", "1ms", "--progress", "lines")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	require.Contains(t, lines[0], "job job1 active: 1/3 completed (succeeded 0, failed 1), running 0, active 2")
	require.Contains(t, lines[2], "job job1 active: 3/3 completed (succeeded 2, failed 1), running 0, active 0")

	_, err := b.run(t, "job", "wait", "job1", "--interval", "1ms", "--fail-on-error")
	require.EqualError(t, err, "job job1: 1 of 3 tasks failed")

	var counts batch.TaskCounts
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "job", "wait", "job1", "-o", "json")), &counts))
	require.Equal(t, batch.TaskCounts{Completed: 3, Succeeded: 2, Failed: 1}, counts)
}

func TestCLIJobWaitBar(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "job", "create", "job1", "--pool", "pool1")
	b.ok(t, "task", "add", "job1", "t", "--count", "2", "--", "true")
	completeOnPoll(b, "job1", "t-1", "t-2")
	out := b.ok(t, "job", "wait", "job1", "--interval", "1ms", "--progress", "bar")
	require.Contains(t, out, "2/2")
	require.Contains(t, out, "succeeded 1  failed 1  running 0  active 0")
}

func TestCLIJobWaitEnds(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "job", "create", "job1", "--pool", "pool1")
	b.ok(t, "task", "add", "job1", "forever", "--", "sleep", "inf")
	_, err := b.run(t, "job", "wait", "job1", "--interval", "5ms", "--timeout", "50ms")
	require.EqualError(t, err, "job job1: timed out after 50ms with 1 active and 0 running tasks")

	// A job without tasks is waited for until it completes.
	b.ok(t, "job", "create", "empty", "--pool", "pool1")
	_, err = b.run(t, "job", "wait", "empty", "--interval", "5ms", "--timeout", "50ms")
	require.ErrorContains(t, err, "timed out")
	b.ok(t, "job", "terminate", "empty")
	b.ok(t, "job", "wait", "empty", "--interval", "5ms", "--timeout", "5s")

	_, err = b.run(t, "job", "wait", "missing")
	require.EqualError(t, err, "JobNotFound: The specified job does not exist.")
}

func TestShellJoin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		words []string
		want  string
	}{
		{[]string{"echo", "hello"}, "echo hello"},
		{[]string{"sh", "-c", "echo $HOME > x"}, `sh -c 'echo $HOME > x'`},
		{[]string{"printf", ""}, "printf ''"},
		{[]string{"echo", "it's"}, `echo 'it'"'"'s'`},
		{[]string{"python3", "--out=a/b.csv", "user@host:1"}, "python3 --out=a/b.csv user@host:1"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, shellJoin(tt.words))
	}
}

func TestCLIJobSchedulingFlags(t *testing.T) {
	t.Parallel()
	b := setupCLI(t)
	b.ok(t, "pool", "create", "pool1")
	b.ok(t, "job", "create", "dj", "--pool", "pool1", "--uses-task-dependencies", "--priority", "5", "--max-parallel-tasks", "2")
	var j batch.Job
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "job", "show", "dj", "-o", "json")), &j))
	require.True(t, *j.UsesTaskDependencies)
	require.Equal(t, 5, *j.Priority)
	require.Equal(t, 2, *j.MaxParallelTasks)

	b.ok(t, "task", "add", "dj", "merge", "--depends-on", "split", "--depends-on-range", "1-100", "--", "true")
	merge, ok := b.srv.Task("dj", "merge")
	require.True(t, ok)
	require.Equal(t, &batch.TaskDependencies{TaskIDs: []string{"split"}, TaskIDRanges: []batch.TaskIDRange{{Start: 1, End: 100}}}, merge.DependsOn)
	_, err := b.run(t, "task", "add", "dj", "bad", "--depends-on-range", "1..3", "--", "true")
	require.ErrorContains(t, err, "want START-END")
}
