package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/config"
)

// natchBin is the binary under test, built once by TestMain.
var natchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natch-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	natchBin = filepath.Join(dir, "natch")
	build := exec.Command("go", "build", "-o", natchBin, "../cmd/natch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build natch:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// instance is a running `natch up`.
type instance struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	conn    config.Connection
	key     []byte
	log     *bytes.Buffer
	done    chan error
}

// startUp starts natch up on free ports in dataDir and waits until it has
// written its connection file.
func startUp(t *testing.T, dataDir string, extra ...string) *instance {
	t.Helper()
	_ = os.Remove(filepath.Join(dataDir, config.ConnectionFile))
	args := append([]string{"up", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0",
		"--ack-wait", "3s", "--node-stop-grace", "1s"}, extra...)
	cmd := exec.Command(natchBin, args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	in := &instance{t: t, cmd: cmd, dataDir: dataDir, log: &log, done: make(chan error, 1)}
	go func() { in.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("natch up output:\n%s", in.log.String())
		}
	})
	require.Eventually(t, func() bool {
		c, err := config.Read(filepath.Join(dataDir, config.ConnectionFile))
		if err != nil {
			return false
		}
		in.conn = c
		return true
	}, 30*time.Second, 50*time.Millisecond, "natch up did not write its connection file")
	in.key, _ = auth.DecodeKey(in.conn.Key)
	return in
}

// stop sends Ctrl-C and waits for a clean exit.
func (in *instance) stop() {
	in.t.Helper()
	require.NoError(in.t, in.cmd.Process.Signal(os.Interrupt))
	select {
	case err := <-in.done:
		require.NoError(in.t, err, "natch up exit")
	case <-time.After(60 * time.Second):
		in.t.Fatal("natch up did not stop within 60s")
	}
}

// call makes a signed REST request and decodes a JSON answer into out (if non-nil).
func (in *instance) call(method, path string, body any, out any) (int, []byte) {
	in.t.Helper()
	var rd io.Reader
	n := int64(-1)
	if body != nil {
		raw, ok := body.([]byte)
		if !ok {
			var err error
			raw, err = json.Marshal(body)
			require.NoError(in.t, err)
		}
		rd, n = bytes.NewReader(raw), int64(len(raw))
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, in.conn.URL+path+sep+"api-version=2022-10-01.16.0", rd)
	require.NoError(in.t, err)
	auth.Sign(req, in.conn.Account, in.key, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(in.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(in.t, err)
	if out != nil && resp.StatusCode < 300 && len(raw) > 0 {
		require.NoError(in.t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode, raw
}

// must makes a request that has to answer want.
func (in *instance) must(want int, method, path string, body any, out any) []byte {
	in.t.Helper()
	code, raw := in.call(method, path, body, out)
	require.Equal(in.t, want, code, "%s %s: %s", method, path, raw)
	return raw
}

// workerPIDs returns the pids of natch worker processes of a data dir, by node id.
func workerPIDs(dataDir string) map[string]int {
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

func isGone(err error) bool { return errors.Is(err, os.ErrProcessDone) }

// assertEventually polls cond until it holds or the time is up.
func assertEventually(cond func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

// processRunning reports whether a process with exactly this argv runs.
func processRunning(argv ...string) bool {
	want := strings.Join(argv, "\x00") + "\x00"
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && string(b) == want {
			return true
		}
	}
	return false
}
