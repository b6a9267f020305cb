package compat

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natch-io/natch/shared/natchtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Time limits of one run: guards against a hang, far above the usual.
const (
	buildTimeout = 120 * time.Second // a cold build cache; usually a few seconds
	nodeTimeout  = 3 * time.Minute   // every script; about 30 s in all (45 s on a busy machine)
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

	bin := filepath.Join(t.TempDir(), "natch")
	bctx, bcancel := context.WithTimeout(t.Context(), buildTimeout)
	defer bcancel()
	require.NoError(t, natchtest.Build(bctx, bin))
	dataDir := t.TempDir()
	// Job schedules recurring every 2 s (schedules.test.mjs); Azure's minimum is 1 min.
	up := natchtest.Start(t, bin, dataDir, "--min-recurrence", "1s")
	publishApplications(t, up)

	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	args := append([]string{"--test", "--test-reporter=spec"}, scripts...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(),
		"NATCH_URL="+up.Conn.URL, "NATCH_ACCOUNT="+up.Conn.Account, "NATCH_KEY="+up.Conn.Key,
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

	up.Stop(t)
	require.Empty(t, natchtest.Workers(dataDir), "worker processes outlived natch up")
	require.NoError(t, ctx.Err(), "node --test did not finish within %s", nodeTimeout)
	require.NoError(t, runErr, "the Azure Batch SDK scripts failed (see the node: lines above)")
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
