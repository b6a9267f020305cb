package compat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natch-io/natch/shared/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Time limits of one run; the whole suite stays well under a minute.
const (
	buildTimeout = 120 * time.Second // a cold build cache; usually a few seconds
	readyTimeout = 30 * time.Second  // natch up writing connection.json
	nodeTimeout  = 45 * time.Second  // every script; they take ~5 s
	stopTimeout  = 30 * time.Second  // natch up exiting after SIGINT
)

// TestAzureBatchSDK runs the *.test.mjs scripts (the official Azure Batch SDK)
// against a fresh natch up and fails if any of them fails.
func TestAzureBatchSDK(t *testing.T) {
	t.Parallel()
	scripts, err := filepath.Glob("*.test.mjs")
	require.NoError(t, err)
	require.NotEmpty(t, scripts, "no *.test.mjs scripts in compat/")
	_, err = os.Stat(filepath.Join("node_modules", "@azure", "batch", "package.json"))
	require.NoError(t, err, "compat/node_modules is missing the Azure Batch SDK: run `(cd compat && npm ci)` first")
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node (v20+) is needed to run the Azure Batch SDK scripts")

	bin := buildNatch(t)
	dataDir := t.TempDir()
	up := startUp(t, bin, dataDir)

	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	args := append([]string{"--test", "--test-reporter=spec"}, scripts...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(),
		"NATCH_URL="+up.conn.URL, "NATCH_ACCOUNT="+up.conn.Account, "NATCH_KEY="+up.conn.Key,
		"NO_COLOR=1", "FORCE_COLOR=0")
	// node --test runs each script in a child process: on timeout, kill them all.
	cmd.SysProcAttr = childAttr(syscall.SIGKILL, true)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	require.NoError(t, cmd.Start())
	streamLines(t, out, "node: ")
	runErr := cmd.Wait()
	t.Logf("node --test took %s", time.Since(start).Round(time.Millisecond))

	up.stop(t)
	require.Empty(t, workerPIDs(dataDir), "worker processes outlived natch up")
	require.NoError(t, ctx.Err(), "node --test did not finish within %s", nodeTimeout)
	require.NoError(t, runErr, "the Azure Batch SDK scripts failed (see the node: lines above)")
}

// buildNatch builds the binary under test into a temp dir.
func buildNatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "natch")
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/natch").CombinedOutput()
	require.NoError(t, err, "build natch: %s", out)
	return bin
}

// natchUp is a running `natch up`.
type natchUp struct {
	cmd  *exec.Cmd
	conn config.Connection
	log  *syncBuffer
	done chan error
}

// startUp starts natch up on free ports in dataDir and waits for its
// connection file. If the test fails, natch's output goes to the test log.
func startUp(t *testing.T, bin, dataDir string) *natchUp {
	t.Helper()
	cmd := exec.Command(bin, "up", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0",
		"--ack-wait", "3s", "--node-stop-grace", "1s")
	cmd.SysProcAttr = childAttr(syscall.SIGINT, false) // Ctrl-C also stops its nodes
	up := &natchUp{cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = up.log, up.log
	require.NoError(t, cmd.Start())
	go func() { up.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-up.done: // already stopped
		default:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-up.done
		}
		if t.Failed() {
			t.Logf("natch up output:\n%s", up.log.String())
		}
	})
	path := filepath.Join(dataDir, config.ConnectionFile)
	require.Eventually(t, func() bool {
		c, err := config.Read(path)
		if err != nil {
			return false
		}
		up.conn = c
		return true
	}, readyTimeout, 50*time.Millisecond, "natch up did not write %s", path)
	return up
}

// stop sends Ctrl-C and waits for a clean exit.
func (up *natchUp) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, up.cmd.Process.Signal(os.Interrupt))
	select {
	case err := <-up.done:
		up.done <- err // for the cleanup
		require.NoError(t, err, "natch up exit")
	case <-time.After(stopTimeout):
		t.Fatalf("natch up did not stop within %s", stopTimeout)
	}
}

// streamLines copies r into the test log line by line as it arrives.
func streamLines(t *testing.T, r io.Reader, prefix string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		t.Log(prefix + sc.Text())
	}
}

// workerPIDs returns the pids of the natch worker processes of a data dir.
func workerPIDs(dataDir string) []int {
	var pids []int
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
		if len(args) >= 2 && args[1] == "worker" && bytes.Contains(b, []byte(dataDir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// syncBuffer is a bytes.Buffer safe for the writes of a child's stdout and
// stderr and a concurrent read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
