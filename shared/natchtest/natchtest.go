// Package natchtest runs the natch binary for binary-level tests (e2e/,
// compat/): it builds it, starts `natch up` in a data dir on free ports,
// waits for its connection file, stops it, and finds its worker processes.
package natchtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/config"
)

// Time limits.
const (
	ReadyTimeout = 30 * time.Second // natch up writing connection.json
	StopTimeout  = 60 * time.Second // natch up exiting after Ctrl-C
)

// Build builds ./cmd/natch of the module that holds dir's working tree
// into out.
func Build(ctx context.Context, out string) error {
	root, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("natchtest: find module: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/natch")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("natchtest: build natch: %w\n%s", err, b)
	}
	return nil
}

// Up is a running `natch up`.
type Up struct {
	Cmd     *exec.Cmd
	DataDir string
	Conn    config.Connection // from connection.json
	Key     []byte            // Conn.Key, decoded
	Log     *Buffer           // natch up's output
	done    chan error
	exitErr error
	exited  bool
}

// Start runs `natch up` in dataDir on free ports with a short ack wait (a
// dead node's tasks come back in seconds), plus extra args, and waits until
// it has written its connection file. It is killed when the test ends if
// it still runs, and its output is logged if the test failed. On Linux it
// also dies with the test process.
func Start(tb testing.TB, bin, dataDir string, extra ...string) *Up {
	tb.Helper()
	_ = os.Remove(filepath.Join(dataDir, config.ConnectionFile))
	args := append([]string{"up", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0",
		"--ack-wait", "3s", "--node-stop-grace", "1s"}, extra...)
	u := &Up{Cmd: exec.Command(bin, args...), DataDir: dataDir, Log: &Buffer{}, done: make(chan error, 1)}
	u.Cmd.Stdout, u.Cmd.Stderr = u.Log, u.Log
	u.Cmd.SysProcAttr = dieWithParent(syscall.SIGINT)
	if err := u.Cmd.Start(); err != nil {
		tb.Fatalf("natchtest: start natch up: %v", err)
	}
	go func() { u.done <- u.Cmd.Wait() }()
	tb.Cleanup(func() {
		if !u.wait(0) {
			_ = u.Cmd.Process.Signal(syscall.SIGKILL)
			u.wait(StopTimeout)
		}
		if tb.Failed() {
			tb.Logf("natch up output (%s):\n%s", dataDir, u.Log.String())
		}
	})
	path := filepath.Join(dataDir, config.ConnectionFile)
	deadline := time.Now().Add(ReadyTimeout)
	for {
		c, err := config.Read(path)
		if err == nil {
			u.Conn = c
			break
		}
		if u.wait(0) || time.Now().After(deadline) {
			tb.Fatalf("natchtest: natch up did not write %s (exit: %v)\n%s", path, u.exitErr, u.Log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	key, err := auth.DecodeKey(u.Conn.Key)
	if err != nil {
		tb.Fatalf("natchtest: %v", err)
	}
	u.Key = key
	return u
}

// wait waits up to d for natch up to exit and reports whether it has.
func (u *Up) wait(d time.Duration) bool {
	if u.exited {
		return true
	}
	select {
	case u.exitErr = <-u.done:
		u.exited = true
	case <-time.After(d):
	}
	return u.exited
}

// Stop sends Ctrl-C and fails the test unless natch up exits cleanly within
// StopTimeout.
func (u *Up) Stop(tb testing.TB) {
	tb.Helper()
	if err := u.Cmd.Process.Signal(os.Interrupt); err != nil {
		tb.Fatalf("natchtest: interrupt natch up: %v", err)
	}
	if !u.wait(StopTimeout) {
		tb.Fatalf("natchtest: natch up did not stop within %s", StopTimeout)
	}
	if u.exitErr != nil {
		tb.Fatalf("natchtest: natch up exit: %v", u.exitErr)
	}
}

// Kill kills natch up with SIGKILL (a crash) and waits for it to be gone.
func (u *Up) Kill(tb testing.TB) {
	tb.Helper()
	if err := u.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		tb.Fatalf("natchtest: kill natch up: %v", err)
	}
	u.wait(StopTimeout)
}

// Workers returns the pids of the `natch worker` processes whose command
// line names dataDir, by node id.
func Workers(dataDir string) map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) < 2 || args[1] != "worker" || !strings.Contains(string(b), dataDir) {
			continue
		}
		for i, a := range args {
			if a == "--node-id" && i+1 < len(args) {
				out[args[i+1]] = pid
			}
		}
	}
	return out
}

// Buffer is a bytes.Buffer safe for concurrent writes and reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
