package worker_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/worker/stage"
)

// container creates container name of the account in the object store.
func (b *testBundle) container(t *testing.T, name string) *blob.ObjectStore {
	t.Helper()
	c, err := blob.NewObjectStore(b.js, name, blob.Config{Account: account})
	require.NoError(t, err)
	require.NoError(t, c.Create(t.Context()))
	return c
}

func blobText(t *testing.T, c blob.Container, name string) (string, error) {
	t.Helper()
	rc, _, err := c.Get(t.Context(), name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

// httpFile serves one file at /b.
func httpFile(t *testing.T, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/b" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"b1"`)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTaskStagesRunsAndUploads(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	in := b.container(t, "inputs")
	_, err := in.Put(t.Context(), "a", strings.NewReader("A\n"), 2, nil)
	require.NoError(t, err)
	_, err = in.Put(t.Context(), "z", strings.NewReader("Z\n"), 2, nil)
	require.NoError(t, err)
	out := b.container(t, "outputs")
	web := httpFile(t, "B\n")
	n := b.start(t, nil)

	tm := task("T1", `/bin/sh -c 'mkdir -p out && cat a b > out/result.txt && echo done'`)
	tm.Task.ResourceFiles = []batch.ResourceFile{
		{AutoStorageContainerName: "inputs", BlobPrefix: "a"},
		{HTTPURL: web.URL + "/b", FilePath: "b"},
	}
	tm.Task.OutputFiles = []batch.OutputFile{{FilePattern: "out/**",
		Destination:   batch.OutputFileDestination{Container: &batch.OutputFileBlobContainerDestination{ContainerURL: "outputs", Path: "results"}},
		UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "taskSuccess"}}}
	b.publish(t, tm)

	ev := b.event(t, protocol.EventCompleted, "T1")
	require.Nil(t, ev.FailureInfo)
	require.NotNil(t, ev.ExitCode)
	require.Equal(t, 0, *ev.ExitCode)
	got, err := blobText(t, out, "results/result.txt")
	require.NoError(t, err)
	require.Equal(t, "A\nB\n", got)
	require.NoFileExists(t, filepath.Join(n.taskDir("T1"), "wd", "z"), "blobPrefix filters")
	require.FileExists(t, filepath.Join(n.taskDir("T1"), stage.UploadOutFile))

	// The non-empty stdout.txt is copied to the task logs container in the background.
	logs, err := blob.NewObjectStore(b.js, protocol.TaskLogsContainer, blob.Config{Account: account})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, err := blobText(t, logs, protocol.TaskLogBlob("Job1", "T1", "stdout.txt"))
		return err == nil && s == "done\n"
	}, wait, tick)
	_, err = logs.Stat(t.Context(), protocol.TaskLogBlob("Job1", "T1", "stderr.txt"))
	require.ErrorIs(t, err, blob.ErrNotFound, "an empty stderr.txt is not copied")
}

func TestTaskStagingFailureRunsNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	b.container(t, "inputs")
	web := httpFile(t, "B\n")
	n := b.start(t, nil)

	missing := task("Missing", `/bin/sh -c 'touch ran'`)
	missing.Task.ResourceFiles = []batch.ResourceFile{{HTTPURL: web.URL + "/nope.bin", FilePath: "data/nope.bin"}}
	escape := task("Escape", `/bin/sh -c 'touch ran'`)
	escape.Task.ResourceFiles = []batch.ResourceFile{{AutoStorageContainerName: "inputs", FilePath: "../../../etc"}}
	b.publish(t, missing, escape)

	ev := b.event(t, protocol.EventCompleted, "Missing")
	require.Nil(t, ev.ExitCode, "no command ran")
	require.NotNil(t, ev.FailureInfo)
	require.Equal(t, batch.CategoryUser, ev.FailureInfo.Category)
	require.Equal(t, stage.CodeBlobNotFound, ev.FailureInfo.Code)
	require.Contains(t, ev.FailureInfo.Message, "data/nope.bin")
	require.NoFileExists(t, filepath.Join(n.taskDir("Missing"), "wd", "ran"))

	ev = b.event(t, protocol.EventCompleted, "Escape")
	require.Nil(t, ev.ExitCode)
	require.Equal(t, stage.CodeResourceFileCreate, ev.FailureInfo.Code)
	require.Contains(t, ev.FailureInfo.Message, "escapes")
	require.NoFileExists(t, filepath.Join(n.taskDir("Escape"), "wd", "ran"))
}

func TestTaskOutputEscapeFailsTheTask(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.container(t, "outputs")
	n := b.start(t, nil)
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s"), 0o600))

	tm := task("T1", `/bin/sh -c 'ln -s `+secret+` leak'`)
	tm.Task.OutputFiles = []batch.OutputFile{{FilePattern: "leak",
		Destination:   batch.OutputFileDestination{Container: &batch.OutputFileBlobContainerDestination{ContainerURL: "outputs"}},
		UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "taskcompletion"}}}
	b.publish(t, tm)

	ev := b.event(t, protocol.EventCompleted, "T1")
	require.NotNil(t, ev.ExitCode)
	require.Equal(t, 0, *ev.ExitCode, "the process succeeded")
	require.NotNil(t, ev.FailureInfo)
	require.Equal(t, stage.CodeFileUploadMiscError, ev.FailureInfo.Code)
	require.Contains(t, ev.FailureInfo.Message, "wd/leak")
	require.FileExists(t, filepath.Join(n.taskDir("T1"), stage.UploadErrFile))
}

// TestRetentionRemovesStagedFilesKeepsCache: the janitor removes a task
// directory with staged (hard-linked) files after retentionTime; the
// node's blob cache keeps the blob for the next task.
func TestRetentionRemovesStagedFilesKeepsCache(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	in := b.container(t, "inputs")
	_, err := in.Put(t.Context(), "a", strings.NewReader("A\n"), 2, nil)
	require.NoError(t, err)
	n := b.start(t, nil)
	tm := task("T1", "cat a")
	tm.Task.ResourceFiles = []batch.ResourceFile{{AutoStorageContainerName: "inputs"}}
	tm.Task.Constraints = &batch.TaskConstraints{RetentionTime: batch.D(0)}
	b.publish(t, tm)
	ev := b.event(t, protocol.EventCompleted, "T1")
	require.Nil(t, ev.FailureInfo)
	require.Eventually(t, func() bool {
		_, err := os.Stat(n.taskDir("T1"))
		return os.IsNotExist(err)
	}, wait, tick)
	var cached []string
	require.NoError(t, filepath.WalkDir(filepath.Join(n.cfg.RootDir, "volatile", "natch-blobcache"),
		func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				cached = append(cached, p)
			}
			return err
		}))
	require.Len(t, cached, 1)
	require.Equal(t, "A\n", readFile(t, cached[0]))
}
