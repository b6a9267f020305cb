package e2e

import (
	"archive/zip"
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestApplicationPackages publishes packages through the REST API, references
// them from a pool and from tasks, and runs scripts out of them on a real node.
func TestApplicationPackages(t *testing.T) {
	t.Parallel()
	in := startUp(t, t.TempDir())

	script := func(name, body string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write([]byte(body))
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		return buf.Bytes()
	}
	in.must(201, "PUT", "/applications/greeter/versions/1.0", script("bin/greet.sh", "#!/bin/sh\necho \"hello $1\"\n"), nil)
	in.must(201, "PUT", "/applications/base-tools/versions/7", script("tool.sh", "#!/bin/sh\necho tool\n"), nil)
	in.must(200, "PATCH", "/applications/base-tools", map[string]any{"defaultVersion": "7"}, nil)

	// A malicious package is refused and stores nothing.
	var evil bytes.Buffer
	zw := zip.NewWriter(&evil)
	_, err := zw.Create("../../escape.sh")
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	_, raw := in.call("PUT", "/applications/evil/versions/1", evil.Bytes(), nil)
	require.Contains(t, string(raw), `"code":"InvalidApplicationPackage"`)
	in.must(404, "GET", "/applications/evil", nil, nil)

	in.must(201, "POST", "/pools", map[string]any{"id": "apppool", "vmSize": "x", "targetDedicatedNodes": 1,
		"applicationPackageReferences": []any{map[string]any{"applicationId": "base-tools"}}}, nil)
	in.waitNodes("apppool", 1, batch.NodeIdle)
	in.must(201, "POST", "/jobs", map[string]any{"id": "appjob", "poolInfo": map[string]any{"poolId": "apppool"}}, nil)
	ref := []any{map[string]any{"applicationId": "greeter", "version": "1.0"}}
	for _, id := range []string{"a1", "a2"} {
		in.must(201, "POST", "/jobs/appjob/tasks", map[string]any{"id": id, "applicationPackageReferences": ref,
			"commandLine": `/bin/sh -c '"$AZ_BATCH_APP_PACKAGE_greeter_1_0/bin/greet.sh" ` + id + ` && "$AZ_BATCH_APP_PACKAGE_base_tools/tool.sh"'`}, nil)
	}
	_, raw = in.call("POST", "/jobs/appjob/tasks", map[string]any{"id": "bad", "commandLine": "true",
		"applicationPackageReferences": []any{map[string]any{"applicationId": "greeter", "version": "9"}}}, nil)
	require.Contains(t, string(raw), `"code":"InvalidApplicationPackageReferences"`)

	require.Eventually(t, func() bool {
		tasks := in.allTasks("appjob")
		return len(tasks) == 2 && tasks["a1"].State == batch.TaskCompleted && tasks["a2"].State == batch.TaskCompleted
	}, 60*time.Second, 100*time.Millisecond)
	for id, task := range in.allTasks("appjob") {
		require.Equal(t, batch.ResultSuccess, task.ExecutionInfo.Result, "%s: %+v", id, task.ExecutionInfo.FailureInfo)
		_, out := in.call("GET", "/jobs/appjob/tasks/"+id+"/files/stdout.txt", nil, nil)
		require.Equal(t, "hello "+id+"\ntool\n", string(out))
	}
}
