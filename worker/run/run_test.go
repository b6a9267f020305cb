package run_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/worker/run"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testBundle struct {
	runner *run.Runner
	dir    string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	r := run.New()
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return &testBundle{runner: r, dir: filepath.Join(t.TempDir(), "workitems", "job", "job-1", "task")}
}

func (b *testBundle) run(t *testing.T, cmdline string, env ...string) run.Result {
	t.Helper()
	return b.runner.Run(t.Context(), run.Spec{TaskDir: b.dir, CommandLine: cmdline,
		Env: append(os.Environ(), env...)})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestRunSuccessCapturesOutput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var started time.Time
	res := b.runner.Run(t.Context(), run.Spec{TaskDir: b.dir, CommandLine: `/bin/sh -c 'echo out; echo err >&2; pwd'`,
		Env: os.Environ(), OnStart: func(s time.Time) { started = s }})
	require.True(t, res.Succeeded(), "%+v", res)
	require.True(t, res.Started)
	require.Equal(t, 0, *res.ExitCode)
	require.Nil(t, res.FailureInfo)
	require.Equal(t, started, res.StartTime)
	require.False(t, res.EndTime.Before(res.StartTime))
	wd := filepath.Join(b.dir, "wd")
	require.Equal(t, "out\n"+wd+"\n", readFile(t, filepath.Join(b.dir, "stdout.txt")))
	require.Equal(t, "err\n", readFile(t, filepath.Join(b.dir, "stderr.txt")))

	// A second attempt truncates the output files.
	res = b.run(t, "echo again")
	require.True(t, res.Succeeded())
	require.Equal(t, "again\n", readFile(t, filepath.Join(b.dir, "stdout.txt")))
	require.Empty(t, readFile(t, filepath.Join(b.dir, "stderr.txt")))
}

func TestRunNonZeroExit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.run(t, "/bin/sh -c 'exit 3'")
	require.False(t, res.Succeeded())
	require.Equal(t, 3, *res.ExitCode)
	require.Equal(t, "usererror", res.FailureInfo.Category)
	require.Equal(t, run.CodeFailureExitCode, res.FailureInfo.Code)
	require.Equal(t, run.MsgFailureExitCode, res.FailureInfo.Message)
}

func TestRunKilledBySignalExitCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.run(t, "/bin/sh -c 'kill -TERM $$'")
	require.Equal(t, 128+int(syscall.SIGTERM), *res.ExitCode)
	require.Equal(t, run.CodeFailureExitCode, res.FailureInfo.Code)
}

func TestRunQuoting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cmdline, want string
	}{
		{name: "ShellDashC", cmdline: `/bin/sh -c 'echo a b'`, want: "a b\n"},
		{name: "OneQuotedArgument", cmdline: `/bin/sh -c 'echo $#' x 'a b'`, want: "1\n"},
		{name: "TwoArguments", cmdline: `/bin/sh -c 'echo $#' x a b`, want: "2\n"},
		{name: "NoShellExpansion", cmdline: `echo $HOME '*' "x y"`, want: "$HOME * x y\n"},
		{name: "DoubleQuotes", cmdline: `printf "%s|" "a b" c`, want: "a b|c|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			res := b.run(t, tt.cmdline)
			require.True(t, res.Succeeded(), "%+v", res.FailureInfo)
			require.Equal(t, tt.want, readFile(t, filepath.Join(b.dir, "stdout.txt")))
		})
	}
}

func TestRunEnvironmentLastWins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.run(t, `/bin/sh -c 'echo "$FOO"'`, "FOO=job", "FOO=task")
	require.True(t, res.Succeeded())
	require.Equal(t, "task\n", readFile(t, filepath.Join(b.dir, "stdout.txt")))
}

func TestRunUsesTaskPath(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bin := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "hello-natch"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	res := b.run(t, "hello-natch", "PATH="+bin+":/usr/bin:/bin")
	require.True(t, res.Succeeded(), "%+v", res.FailureInfo)
	require.Equal(t, "hi\n", readFile(t, filepath.Join(b.dir, "stdout.txt")))
}

func TestRunRelativeToWorkingDir(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, os.MkdirAll(filepath.Join(b.dir, "wd"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(b.dir, "wd", "job.sh"), []byte("#!/bin/sh\necho from wd\n"), 0o755))
	res := b.run(t, "./job.sh")
	require.True(t, res.Succeeded(), "%+v", res.FailureInfo)
	require.Equal(t, "from wd\n", readFile(t, filepath.Join(b.dir, "stdout.txt")))
}

func TestRunLaunchFailures(t *testing.T) {
	t.Parallel()
	notExec := filepath.Join(t.TempDir(), "plain.txt")
	require.NoError(t, os.WriteFile(notExec, []byte("echo hi\n"), 0o644))
	tests := []struct {
		name, cmdline, code string
	}{
		{name: "NotOnPath", cmdline: "no-such-program-natch arg", code: protocol.CodeProgramNotFound},
		{name: "MissingPath", cmdline: "/no/such/program", code: protocol.CodeProgramNotFound},
		{name: "NotExecutable", cmdline: notExec, code: protocol.CodeCommandLaunch},
		{name: "UnbalancedQuote", cmdline: `echo 'a`, code: protocol.CodeCommandLaunch},
		{name: "Empty", cmdline: "   ", code: protocol.CodeCommandLaunch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			res := b.run(t, tt.cmdline)
			require.False(t, res.Started)
			require.Nil(t, res.ExitCode)
			require.NotNil(t, res.FailureInfo)
			require.Equal(t, "usererror", res.FailureInfo.Category)
			require.Equal(t, tt.code, res.FailureInfo.Code)
			require.NotEmpty(t, res.FailureInfo.Message)
		})
	}
}

func TestRunDirectoryCreateFailure(t *testing.T) {
	t.Parallel()
	r := run.New()
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	res := r.Run(t.Context(), run.Spec{TaskDir: filepath.Join(file, "task"), CommandLine: "true"})
	require.False(t, res.Started)
	require.Equal(t, "servererror", res.FailureInfo.Category)
	require.Equal(t, protocol.CodeResourceDirCreate, res.FailureInfo.Code)
}

// pidsGone waits until none of the pids written to file exists.
func pidsGone(t *testing.T, file string) {
	t.Helper()
	var pids []int
	for f := range strings.FieldsSeq(readFile(t, file)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	require.Len(t, pids, 2)
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond)
}

func TestRunMaxWallClockKillsProcessGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pids := filepath.Join(t.TempDir(), "pids")
	start := time.Now()
	res := b.runner.Run(t.Context(), run.Spec{TaskDir: b.dir, Env: os.Environ(), MaxWallClockTime: 300 * time.Millisecond,
		CommandLine: `/bin/sh -c 'sleep 60 & echo $! > ` + pids + `; echo $$ >> ` + pids + `; sleep 60'`})
	require.Less(t, time.Since(start), 10*time.Second)
	require.True(t, res.Started)
	require.False(t, res.Interrupted)
	require.Equal(t, 128+int(syscall.SIGKILL), *res.ExitCode)
	require.Equal(t, "usererror", res.FailureInfo.Category)
	require.Equal(t, protocol.CodeMaxWallClock, res.FailureInfo.Code)
	require.Equal(t, run.MsgMaxWallClock, res.FailureInfo.Message)
	pidsGone(t, pids)
}

func TestRunContextCancelInterrupts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pids := filepath.Join(t.TempDir(), "pids")
	ctx, cancel := context.WithCancel(t.Context())
	res := b.runner.Run(ctx, run.Spec{TaskDir: b.dir, Env: os.Environ(),
		CommandLine: `/bin/sh -c 'sleep 60 & echo $! > ` + pids + `; echo $$ >> ` + pids + `; sleep 60'`,
		OnStart:     func(time.Time) { go cancel() }})
	require.True(t, res.Interrupted)
	require.Nil(t, res.FailureInfo)
	require.False(t, res.Succeeded())
	// The pid file may not be complete if the kill came early; wait for
	// the shell only when it got that far.
	if b, err := os.ReadFile(pids); err == nil && len(strings.Fields(string(b))) == 2 {
		pidsGone(t, pids)
	}
}

func TestRunKillsLeftoversAfterExit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pids := filepath.Join(t.TempDir(), "pids")
	res := b.run(t, `/bin/sh -c 'sleep 60 & echo $! > `+pids+`; echo $$ >> `+pids+`'`)
	require.True(t, res.Succeeded())
	pidsGone(t, pids)
}

func TestLookPathCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first"), filepath.Join(dir, "second")
	require.NoError(t, os.Mkdir(first, 0o755))
	require.NoError(t, os.Mkdir(second, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(first, "hello"), []byte("#!/bin/sh\necho one\n"), 0o755))
	r := run.New()
	defer r.Close()
	spec := func(name string) run.Spec {
		return run.Spec{TaskDir: filepath.Join(dir, name), CommandLine: "hello", Env: []string{"PATH=" + first + ":" + second}}
	}
	res := r.Run(context.Background(), spec("a"))
	require.True(t, res.Succeeded(), "%+v", res.FailureInfo)

	// Within the cache's lifetime the program moves to a later PATH
	// directory: the path found before fails, and the runner looks again.
	require.NoError(t, os.Rename(filepath.Join(first, "hello"), filepath.Join(second, "hello")))
	res = r.Run(context.Background(), spec("b"))
	require.True(t, res.Succeeded(), "%+v", res.FailureInfo)

	require.NoError(t, os.Remove(filepath.Join(second, "hello")))
	res = r.Run(context.Background(), spec("c"))
	require.NotNil(t, res.FailureInfo)
	require.Equal(t, "CommandProgramNotFound", res.FailureInfo.Code)
}
