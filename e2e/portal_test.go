package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/auth"
)

// portalTimeout bounds the browser script; it takes about 15 s.
const portalTimeout = 2 * time.Minute

// TestPortal drives the web portal in Debian's Chromium (playwright-core,
// e2e/portal/portal.test.mjs) against a real natch up: sign-in, pools,
// jobs, tasks and their output, autoscale, resize, node operations
// (scheduling, reboot, remove), terminate. CI installs
// Chromium (scripts/test-deps.sh), so a missing browser fails the test.
func TestPortal(t *testing.T) {
	t.Parallel()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	_, err := os.Stat(chromium)
	require.NoError(t, err, "Chromium is needed for the portal test: run scripts/test-deps.sh (apt-get install chromium), or set CHROMIUM")
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node (v20+) is needed to run the portal's browser test")
	_, err = os.Stat(filepath.Join("portal", "node_modules", "playwright-core", "package.json"))
	require.NoError(t, err, "e2e/portal/node_modules is missing playwright-core: run scripts/test-deps.sh (npm ci in e2e/portal)")

	in := startUp(t, t.TempDir())
	// A pool without nodes holding a job of 101 tasks that wait, for paging
	// (pages are 100); an application and a job schedule (not due for a
	// day) for their pages.
	in.must(201, "POST", "/pools", map[string]any{"id": "spare", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 0}, nil)
	in.must(201, "POST", "/jobs", map[string]any{"id": "many", "poolInfo": map[string]any{"poolId": "spare"}}, nil)
	for _, r := range [][2]int{{0, 100}, {100, 101}} {
		var tasks []map[string]any
		for i := r[0]; i < r[1]; i++ {
			tasks = append(tasks, map[string]any{"id": fmt.Sprintf("w%03d", i), "commandLine": "true"})
		}
		in.must(200, "POST", "/jobs/many/addtaskcollection", map[string]any{"value": tasks}, nil)
	}
	in.must(201, "PUT", "/applications/greeter/versions/1.0", zipOf(t, "greet.sh", "#!/bin/sh\necho hi\n"), nil)
	in.must(201, "POST", "/jobschedules", map[string]any{
		"id":               "nightly",
		"schedule":         map[string]any{"recurrenceInterval": "PT1H", "doNotRunUntil": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)},
		"jobSpecification": map[string]any{"poolInfo": map[string]any{"poolId": "pool1"}},
	}, nil)
	vector, err := json.Marshal(signVector(in.Conn.Account, in.Conn.Key, in.Key))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), portalTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "portal.test.mjs")
	cmd.Dir = "portal"
	cmd.Env = append(os.Environ(),
		"NATCH_URL="+in.Conn.URL, "NATCH_ACCOUNT="+in.Conn.Account, "NATCH_KEY="+in.Conn.Key,
		"CHROMIUM="+chromium, "SIGN_VECTOR="+string(vector), "SCREENSHOT="+os.Getenv("PORTAL_SCREENSHOT"),
		"NO_COLOR=1", "FORCE_COLOR=0")
	// node starts Chromium and its helpers: on timeout, or if this test
	// process dies, they all go.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("portal.test.mjs took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	require.NoError(t, ctx.Err(), "the portal's browser test did not finish within %s", portalTimeout)
	require.NoError(t, err, "the portal's browser test failed (its output is above)")
	in.stop()
}

// signVector is a request signed by shared/auth, for the browser to sign
// the same way: a POST with a body, an ocp- header, a quote in the path and
// an OData filter in the query.
func signVector(account, keyB64 string, key []byte) map[string]any {
	headers := map[string]string{
		"ocp-date":       "Sun, 01 Nov 2026 10:00:00 GMT",
		"content-type":   "application/json; odata=minimalmetadata; charset=utf-8",
		"content-length": "17",
		"ocp-range":      "bytes=0-9",
	}
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	rawPath := "/jobs/a%27b%2Fc/tasks"
	rawQuery := "maxresults=10&%24filter=state+eq+%27active%27&api-version=2022-10-01.16.0"
	sts := auth.StringToSign("POST", h, account, rawPath, rawQuery)
	return map[string]any{
		"method": "POST", "headers": headers, "account": account, "rawPath": rawPath, "search": "?" + rawQuery,
		"key": keyB64, "stringToSign": sts, "signature": auth.Signature(key, sts),
	}
}

// zipOf returns a zip of one file.
func zipOf(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	require.NoError(t, err)
	_, err = w.Write([]byte(body))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}
