package worker_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

// countingHandler counts the log records with a given message.
type countingHandler struct {
	slog.Handler
	msg string
	n   *atomic.Int32
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{h.Handler.WithAttrs(as), h.msg, h.n}
}

func (h countingHandler) WithGroup(g string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(g), h.msg, h.n}
}

// helloZip is a package with bin/hello.sh, which greets its argument.
func helloZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bin/hello.sh", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	require.NoError(t, err)
	_, err = w.Write([]byte("#!/bin/sh\necho \"hello from $1\"\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// putPackage stores a package zip as the dispatcher's publish does, and
// its application record.
func (b *testBundle) putPackage(t *testing.T, app, version string, defaultVersion string, zip []byte) *blob.ObjectStore {
	t.Helper()
	c, err := blob.NewObjectStore(b.js, topology.ApplicationsContainer, blob.Config{Account: account})
	require.NoError(t, err)
	require.NoError(t, c.Create(t.Context()))
	_, err = c.Put(t.Context(), protocol.PackageBlob(app, version), bytes.NewReader(zip), int64(len(zip)), nil)
	require.NoError(t, err)
	kv, err := b.js.KeyValue(t.Context(), topology.ApplicationsBucket)
	require.NoError(t, err)
	rec := protocol.ApplicationRecord{ID: app, DefaultVersion: defaultVersion,
		Versions: []protocol.ApplicationVersion{{Version: version, State: protocol.PackageActive, Format: "zip"}}}
	data, err := json.Marshal(rec)
	require.NoError(t, err)
	_, err = kv.Put(t.Context(), topology.ApplicationKey(account, batch.Key(app)), data)
	require.NoError(t, err)
	return c
}

func TestTaskAppPackageInstalledOnceAndRun(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 2})
	c := b.putPackage(t, "tool", "1.0", "1.0", helloZip(t))
	var installs atomic.Int32
	n := b.start(t, func(cfg *worker.Config) {
		cfg.Logger = slog.New(countingHandler{cfg.Logger.Handler(), "application package installed", &installs})
	})

	pkgs := []protocol.AppPackage{{ApplicationID: "tool", Version: "1.0", Default: true}}
	cmd := func(id string) protocol.TaskMessage {
		tm := task(id, `/bin/sh -c '"$AZ_BATCH_APP_PACKAGE_tool_1_0/bin/hello.sh" `+id+`; echo "$AZ_BATCH_APP_PACKAGE_tool"'`)
		tm.AppPackages = pkgs
		return tm
	}
	b.publish(t, cmd("T1"), cmd("T2")) // two slots: both install at once
	for _, id := range []string{"T1", "T2"} {
		ev := b.event(t, protocol.EventCompleted, id)
		dir, err := filepath.EvalSymlinks(filepath.Join(n.cfg.RootDir, worker.AppsDir, "tool#1.0"))
		require.NoError(t, err)
		require.Nil(t, ev.FailureInfo, id)
		require.Equal(t, 0, *ev.ExitCode)
		got := readFile(t, filepath.Join(ev.TaskRootDir, "stdout.txt"))
		require.Equal(t, "hello from "+id+"\n"+dir+"\n", got,
			"the script ran from the package; AZ_BATCH_APP_PACKAGE_tool names the default version's directory")
	}
	require.EqualValues(t, 1, installs.Load(), "one download and unpack for two tasks")
	matches, err := filepath.Glob(filepath.Join(n.cfg.RootDir, worker.AppsDir, ".*"))
	require.NoError(t, err)
	require.Empty(t, matches, "no temporary files or directories left")

	// Installed for the node's lifetime: the blob is not read again.
	require.NoError(t, c.Delete(t.Context(), protocol.PackageBlob("tool", "1.0")))
	b.publish(t, cmd("T3"))
	ev := b.event(t, protocol.EventCompleted, "T3")
	require.Nil(t, ev.FailureInfo)
	require.EqualValues(t, 1, installs.Load())

	// A package that cannot be installed fails the task; no command runs.
	bad := task("T4", `/bin/sh -c 'echo ran'`)
	bad.AppPackages = []protocol.AppPackage{{ApplicationID: "tool", Version: "2.0"}}
	b.publish(t, bad)
	ev = b.event(t, protocol.EventCompleted, "T4")
	require.Nil(t, ev.ExitCode)
	require.NotNil(t, ev.FailureInfo)
	require.Equal(t, batch.CategoryUser, ev.FailureInfo.Category)
	require.Equal(t, "ApplicationPackageError", ev.FailureInfo.Code)
	require.Contains(t, ev.FailureInfo.Details, batch.NameValue{Name: "ApplicationPackageReference", Value: "tool:2.0"})
	require.NoFileExists(t, filepath.Join(n.taskDir("T4"), "stdout.txt"))
}

func TestPoolAppPackageInstalledAtStart(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{slots: 1})
	b.putPackage(t, "Render-Tool", "2.1", "2.1", helloZip(t))
	pools, err := b.js.KeyValue(t.Context(), topology.PoolsBucket)
	require.NoError(t, err)
	slots := 1
	data, err := json.Marshal(batch.Pool{ID: poolID, VMSize: "standard_a1", TaskSlotsPerNode: &slots,
		ApplicationPackageReferences: []batch.ApplicationPackageReference{{ApplicationID: "render-tool"}}})
	require.NoError(t, err)
	_, err = pools.Put(t.Context(), topology.PoolKey(account, batch.Key(poolID)), data)
	require.NoError(t, err)

	n := b.start(t, nil)
	dir, err := filepath.EvalSymlinks(filepath.Join(n.cfg.RootDir, worker.AppsDir, "Render-Tool#2.1"))
	require.NoError(t, err, "installed before the node is ready")

	b.publish(t, task("T1", `/bin/sh -c '"$AZ_BATCH_APP_PACKAGE_Render_Tool_2_1/bin/hello.sh" pool; echo "$AZ_BATCH_APP_PACKAGE_Render_Tool"'`))
	ev := b.event(t, protocol.EventCompleted, "T1")
	require.Nil(t, ev.FailureInfo)
	require.Equal(t, "hello from pool\n"+dir+"\n", readFile(t, filepath.Join(ev.TaskRootDir, "stdout.txt")))
}
