// Package run executes one task attempt as a local process: it lays out the
// task directory (wd/, stdout.txt, stderr.txt), splits the command line with
// shell-style quoting and executes the program directly (not under a shell)
// in its own process group, enforces maxWallClockTime, and reports the
// outcome as Azure Batch does (exit code, failureInfo).
//
//	<task dir>/
//	    stdout.txt   the process's standard output (truncated per attempt)
//	    stderr.txt   the process's standard error (truncated per attempt)
//	    wd/          the working directory (AZ_BATCH_TASK_WORKING_DIR)
//
// When the main process ends, whatever is left of its process group is
// killed, so a task never leaves processes behind.
package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/shlex"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// Failure codes and messages the runner reports, as Azure Batch words them.
const (
	// CodeFailureExitCode is the failureInfo code of a non-zero exit.
	CodeFailureExitCode = "FailureExitCode"
	// MsgFailureExitCode is the failureInfo message of a non-zero exit.
	MsgFailureExitCode = "The task process exited with an unexpected exit code"
	// MsgMaxWallClock is the failureInfo message of a task killed by maxWallClockTime.
	MsgMaxWallClock = "The task exceeded its maximum wall clock time and was terminated."
)

// File and directory names inside a task directory.
const (
	WorkingDir = "wd"
	StdoutFile = "stdout.txt"
	StderrFile = "stderr.txt"
)

// Spec is one task attempt to run.
type Spec struct {
	// TaskDir is the task directory; it and TaskDir/wd are created if missing.
	TaskDir string
	// CommandLine is split with shell-style quoting; the first word is the
	// program, looked up on the PATH of Env when it holds no slash.
	CommandLine string
	// Env is the complete environment of the process ("NAME=value"); a later
	// entry wins over an earlier one of the same name.
	Env []string
	// MaxWallClockTime kills the process group this long after the process
	// started. Zero means no limit.
	MaxWallClockTime time.Duration
	// OnStart, if set, is called once the process has started, before Run
	// waits for it. It must not block.
	OnStart func(start time.Time)
}

// Result is the outcome of an attempt.
type Result struct {
	// StartTime is when the process started, or when the attempt began if
	// it never started.
	StartTime time.Time
	// EndTime is when the process ended, or when the attempt failed.
	EndTime time.Time
	// Started reports whether a process was started.
	Started bool
	// ExitCode is the process's exit code (128+signal if a signal killed
	// it); nil if it never started.
	ExitCode *int
	// FailureInfo says why the attempt failed; nil on success and when
	// Interrupted (the caller knows why it cancelled the context).
	FailureInfo *batch.TaskFailureInformation
	// Interrupted reports that the process was killed because ctx was done.
	Interrupted bool
	// StdoutSize and StderrSize are the sizes of stdout.txt and stderr.txt
	// when the process ended.
	StdoutSize, StderrSize int64
	// UserTime and KernelTime are the CPU time of the process and of the
	// children it waited for.
	UserTime, KernelTime time.Duration
}

// Succeeded reports whether the process ran and exited with code 0.
func (r Result) Succeeded() bool {
	return r.FailureInfo == nil && !r.Interrupted && r.ExitCode != nil && *r.ExitCode == 0
}

// Runner runs task processes. The zero value is not usable; use New.
type Runner struct {
	devNullOnce sync.Once
	devNull     *os.File
	devNullErr  error

	pathMu sync.Mutex
	paths  map[pathKey]foundPath // programs found on a PATH, kept pathTTL
}

// pathTTL is how long a program found on a PATH is used without looking
// again. A node running thousands of short tasks of the same program would
// otherwise stat every PATH directory before each of them; a program
// installed in an earlier PATH directory is found at most pathTTL late.
const pathTTL = time.Second

type pathKey struct{ name, path string }

type foundPath struct {
	path string
	at   time.Time
}

// New returns a Runner.
func New() *Runner { return &Runner{paths: map[pathKey]foundPath{}} }

// lookPath is lookPath with the Runner's cache of recent finds. cached says
// the answer came from the cache (the caller looks again if it fails).
func (r *Runner) lookPath(name, pathEnv string, now time.Time) (path string, cached bool, err error) {
	if strings.Contains(name, "/") || r.paths == nil {
		path, err = lookPath(name, pathEnv)
		return path, false, err
	}
	k := pathKey{name, pathEnv}
	r.pathMu.Lock()
	f, ok := r.paths[k]
	r.pathMu.Unlock()
	if ok && now.Sub(f.at) < pathTTL {
		return f.path, true, nil
	}
	path, err = lookPath(name, pathEnv)
	r.pathMu.Lock()
	defer r.pathMu.Unlock()
	if err != nil {
		delete(r.paths, k)
		return "", false, err
	}
	if len(r.paths) >= 1024 {
		clear(r.paths)
	}
	r.paths[k] = foundPath{path, now}
	return path, false, nil
}

// forgetPath drops a cached find that did not work.
func (r *Runner) forgetPath(name, pathEnv string) {
	r.pathMu.Lock()
	delete(r.paths, pathKey{name, pathEnv})
	r.pathMu.Unlock()
}

// Close releases the runner's resources.
func (r *Runner) Close() error {
	if r.devNull != nil {
		return r.devNull.Close()
	}
	return nil
}

func (r *Runner) stdin() (*os.File, error) {
	r.devNullOnce.Do(func() { r.devNull, r.devNullErr = os.Open(os.DevNull) })
	return r.devNull, r.devNullErr
}

// Run runs the attempt and waits for it to end. When ctx is done while the
// process runs, its whole process group is killed (SIGKILL) and the result
// is Interrupted.
func (r *Runner) Run(ctx context.Context, s Spec) Result {
	res := Result{StartTime: time.Now()}
	fail := func(category, code, msg string) Result {
		res.EndTime = time.Now()
		res.FailureInfo = &batch.TaskFailureInformation{Category: category, Code: code, Message: msg}
		return res
	}
	dir := filepath.Clean(s.TaskDir) + string(filepath.Separator)
	wd := dir + WorkingDir
	if err := makeDirs(s.TaskDir, wd); err != nil {
		return fail(batch.CategoryServer, protocol.CodeResourceDirCreate,
			"The task directory could not be created: "+err.Error())
	}
	stdout, err := createFile(dir + StdoutFile)
	if err != nil {
		return fail(batch.CategoryServer, protocol.CodeResourceDirCreate,
			"The task's stdout file could not be created: "+err.Error())
	}
	defer stdout.Close()
	stderr, err := createFile(dir + StderrFile)
	if err != nil {
		return fail(batch.CategoryServer, protocol.CodeResourceDirCreate,
			"The task's stderr file could not be created: "+err.Error())
	}
	defer stderr.Close()
	stdin, err := r.stdin()
	if err != nil {
		return fail(batch.CategoryServer, protocol.CodeCommandLaunch, "open "+os.DevNull+": "+err.Error())
	}

	args, err := splitCommandLine(s.CommandLine)
	if err != nil {
		return fail(batch.CategoryUser, protocol.CodeCommandLaunch,
			fmt.Sprintf("The command line could not be parsed: %v", err))
	}
	if len(args) == 0 {
		return fail(batch.CategoryUser, protocol.CodeCommandLaunch, "The command line is empty.")
	}
	pathEnv := envValue(s.Env, "PATH")
	path, cached, err := r.lookPath(args[0], pathEnv, res.StartTime)
	if err != nil {
		return fail(batch.CategoryUser, launchCode(err),
			fmt.Sprintf("The program %q could not be started: %v", args[0], err))
	}
	newCmd := func(path string) *exec.Cmd {
		return &exec.Cmd{Path: path, Args: args, Env: s.Env, Dir: wd, Stdin: stdin, Stdout: stdout,
			Stderr: stderr, SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	}
	cmd := newCmd(path)
	start := time.Now()
	err = cmd.Start()
	if err != nil && cached && errors.Is(err, fs.ErrNotExist) {
		// The program found a moment ago is gone: look again.
		r.forgetPath(args[0], pathEnv)
		if path, err = lookPath(args[0], pathEnv); err == nil {
			cmd = newCmd(path)
			start = time.Now()
			err = cmd.Start()
		}
	}
	if err != nil {
		return fail(batch.CategoryUser, launchCode(err),
			fmt.Sprintf("The program %q could not be started: %v", args[0], err))
	}
	res.StartTime, res.Started = start, true
	pg := &group{pgid: cmd.Process.Pid}
	stopCtx := context.AfterFunc(ctx, func() { pg.kill(&pg.interrupted) })
	var wallTimer *time.Timer
	if s.MaxWallClockTime > 0 {
		wallTimer = time.AfterFunc(s.MaxWallClockTime, func() { pg.kill(&pg.wallClock) })
	}
	if s.OnStart != nil {
		s.OnStart(start)
	}
	waitErr := cmd.Wait()
	res.EndTime = time.Now()
	res.StdoutSize, res.StderrSize = fileSize(stdout), fileSize(stderr)
	stopCtx()
	if wallTimer != nil {
		wallTimer.Stop()
	}
	interrupted, wallClock := pg.exited()
	// Leave nothing behind: background children of the task die with it.
	_ = syscall.Kill(-pg.pgid, syscall.SIGKILL)

	code := -1
	killedBy9 := false
	if st := cmd.ProcessState; st != nil {
		res.UserTime, res.KernelTime = st.UserTime(), st.SystemTime()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Signaled():
				code = 128 + int(ws.Signal())
				killedBy9 = ws.Signal() == syscall.SIGKILL
			case ws.Exited():
				code = ws.ExitStatus()
			}
		} else {
			code = st.ExitCode()
		}
	} else if waitErr != nil {
		return fail(batch.CategoryServer, protocol.CodeCommandLaunch, "wait for the task process: "+waitErr.Error())
	}
	res.ExitCode = &code
	switch {
	case interrupted && killedBy9:
		res.Interrupted = true
	case wallClock && killedBy9:
		res.FailureInfo = &batch.TaskFailureInformation{Category: batch.CategoryUser,
			Code: protocol.CodeMaxWallClock, Message: MsgMaxWallClock}
	case code != 0:
		res.FailureInfo = &batch.TaskFailureInformation{Category: batch.CategoryUser,
			Code: CodeFailureExitCode, Message: MsgFailureExitCode}
	}
	return res
}

// group is a running process group and why it was killed.
type group struct {
	pgid        int
	mu          sync.Mutex
	done        bool // the main process has been waited for
	interrupted bool
	wallClock   bool
}

// kill SIGKILLs the group, unless the main process already ended, and
// records why.
func (g *group) kill(why *bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return
	}
	*why = true
	_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
}

// exited marks the main process as waited for and returns why it was
// killed, if it was.
func (g *group) exited() (interrupted, wallClock bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done = true
	return g.interrupted, g.wallClock
}

// splitCommandLine splits a command line into arguments with shell-style
// quoting (shlex). A line with nothing to interpret (no quotes, backslashes
// or comments) is split on blanks directly, as shlex would split it.
func splitCommandLine(line string) ([]string, error) {
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"' || c == '\'' || c == '\\' || c == '#' || c >= utf8.RuneSelf:
			return shlex.Split(line)
		case c < ' ' && c != '\t' && c != '\n' && c != '\r':
			return shlex.Split(line)
		}
	}
	return strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }), nil
}

// makeDirs creates dir and wd (inside dir) with as few system calls as the
// common cases (a new task of a known job; a retry) allow.
func makeDirs(dir, wd string) error {
	err := os.Mkdir(dir, 0o755)
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	default:
		return err
	}
	if err := os.Mkdir(wd, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// fileSize is the size of an open file (0 if it cannot be told), without
// allocating.
func fileSize(f *os.File) int64 {
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) != nil {
		return 0
	}
	return st.Size
}

func createFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_CLOEXEC, 0o644)
}

// launchCode classifies a start error: a missing program is
// CommandProgramNotFound, anything else CommandLaunchFailed.
func launchCode(err error) string {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return protocol.CodeProgramNotFound
	}
	return protocol.CodeCommandLaunch
}

// envValue returns the value of the last name=value entry in env.
func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name); ok && strings.HasPrefix(v, "=") {
			return v[1:]
		}
	}
	return ""
}

// lookPath finds an executable as a shell would, but in the given PATH
// (the task's, not the worker's). A name with a slash is used as is
// (relative to the working directory).
func lookPath(name, pathEnv string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	var denied error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			continue // "." in PATH is not honoured, as in os/exec
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 == 0 {
			denied = fmt.Errorf("%s: %w", p, fs.ErrPermission)
			continue
		}
		return p, nil
	}
	if denied != nil {
		return "", denied
	}
	return "", fmt.Errorf("%q: %w in $PATH", name, exec.ErrNotFound)
}
