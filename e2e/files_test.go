package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

// TestFilesRoundTrip stages inputs from the account's storage into tasks
// on real nodes, uploads their outputs by pattern and condition, and
// compares what `natch storage download` brings back byte for byte.
func TestFilesRoundTrip(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	in := startUp(t, dataDir)
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(natchBin, args...)
		cmd.Env = append(os.Environ(), "NATCH_CONFIG="+filepath.Join(dataDir, "connection.json"))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "natch %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	src := t.TempDir()
	inputs := map[string]string{"scene/a.txt": "alpha\n", "scene/b.txt": strings.Repeat("beta", 100000) + "\n"}
	for name, data := range inputs {
		p := filepath.Join(src, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	cli("storage", "upload", "inputs", filepath.Join(src, "scene"), "--progress", "never")
	// Output containers must exist, as on Azure: uploading a first blob makes it.
	readme := filepath.Join(t.TempDir(), "README")
	require.NoError(t, os.WriteFile(readme, []byte("results of job io\n"), 0o644))
	cli("storage", "upload", "results", readme, "--progress", "never")

	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1, "taskSlotsPerNode": 2}, nil)
	in.must(201, "POST", "/jobs", map[string]any{"id": "io", "poolInfo": map[string]any{"poolId": "p"}}, nil)
	output := func(pattern, path, condition string) map[string]any {
		return map[string]any{"filePattern": pattern,
			"destination":   map[string]any{"container": map[string]any{"containerUrl": "nats://results", "path": path}},
			"uploadOptions": map[string]any{"uploadCondition": condition}}
	}
	in.must(201, "POST", "/jobs/io/tasks", map[string]any{"id": "join",
		"commandLine":   `/bin/sh -c 'mkdir -p out/deep && cat in/scene/a.txt in/scene/b.txt > out/joined.txt && cp in/scene/a.txt out/deep/a.txt'`,
		"resourceFiles": []any{map[string]any{"autoStorageContainerName": "inputs", "blobPrefix": "scene/", "filePath": "in"}},
		"outputFiles": []any{
			output("out/**/*.txt", "join", "taskSuccess"),
			output("../stdout.txt", "join/logs/stdout.txt", "taskCompletion"),
			output("out/joined.txt", "join/never.txt", "taskFailure"),
		}}, nil)
	// A missing input fails the task before its command runs.
	in.must(201, "POST", "/jobs/io/tasks", map[string]any{"id": "missing", "commandLine": "/bin/sh -c 'touch ran'",
		"resourceFiles": []any{map[string]any{"autoStorageContainerName": "inputs", "blobPrefix": "nothing/"}}}, nil)
	// A pattern that climbs out of the task directory is refused at add.
	code, body := in.call("POST", "/jobs/io/tasks", map[string]any{"id": "escape", "commandLine": "true",
		"outputFiles": []any{output("../../../*", "x", "taskCompletion")}}, nil)
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "outputFiles[0].filePattern")

	require.Eventually(t, func() bool { return in.counts("io").TaskCounts.Completed == 2 }, 60*time.Second, 100*time.Millisecond,
		"tasks never completed: %+v", in.counts("io"))
	tasks := in.allTasks("io")
	require.Equal(t, batch.ResultSuccess, tasks["join"].ExecutionInfo.Result, "%+v", tasks["join"].ExecutionInfo.FailureInfo)
	miss := tasks["missing"].ExecutionInfo
	require.Equal(t, batch.ResultFailure, miss.Result)
	require.Equal(t, "BlobNotFound", miss.FailureInfo.Code)
	require.Nil(t, miss.ExitCode, "the command never ran")

	dest := t.TempDir()
	cli("storage", "download", "results", "join/", "--dest", dest, "--progress", "never")
	got := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dest, name))
		require.NoError(t, err)
		return string(b)
	}
	require.Equal(t, inputs["scene/a.txt"]+inputs["scene/b.txt"], got("join/joined.txt"), "byte for byte")
	require.Equal(t, inputs["scene/a.txt"], got("join/deep/a.txt"))
	require.NotContains(t, cli("storage", "ls", "results"), "never.txt", "taskFailure outputs of a success stay")
	_, err := os.Stat(filepath.Join(dest, "join/logs/stdout.txt"))
	require.NoError(t, err)
}
