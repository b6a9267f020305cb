package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/natchtest"
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
	if err := natchtest.Build(context.Background(), natchBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// instance is a running `natch up` and a signed REST client of it.
type instance struct {
	*natchtest.Up
	t *testing.T
}

// startUp starts natch up on free ports in dataDir and waits until it has
// written its connection file.
func startUp(t *testing.T, dataDir string, extra ...string) *instance {
	t.Helper()
	return &instance{Up: natchtest.Start(t, natchBin, dataDir, extra...), t: t}
}

// stop sends Ctrl-C and waits for a clean exit.
func (in *instance) stop() { in.Stop(in.t) }

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
	req, err := http.NewRequest(method, in.Conn.URL+path+sep+"api-version=2022-10-01.16.0", rd)
	require.NoError(in.t, err)
	auth.Sign(req, in.Conn.Account, in.Key, n)
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
func workerPIDs(dataDir string) map[string]int { return natchtest.Workers(dataDir) }

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
