package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/config"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// setupAppCLI runs a real dispatcher (the fake server has no applications).
func setupAppCLI(t *testing.T) *cliBundle {
	t.Helper()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	d := dispatcher.New(nc, js, dispatcher.Config{Listener: ln, Topology: topology.Options{Memory: true}})
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := d.Prepare(ctx)
	require.NoError(t, err)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	_, err = svc.EnsureAccount(ctx, "acct", func() string { return key })
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("dispatcher did not stop")
		}
	})
	return &cliBundle{env: map[string]string{
		config.EnvURL:     "http://" + ln.Addr().String(),
		config.EnvAccount: "acct",
		config.EnvKey:     key,
		config.EnvConfig:  filepath.Join(t.TempDir(), "none.json"),
	}}
}

func writeZip(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(data))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	path := filepath.Join(t.TempDir(), "pkg.zip")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return path
}

func TestAppPackageCommands(t *testing.T) {
	t.Parallel()
	b := setupAppCLI(t)
	pkg := writeZip(t, map[string]string{"bin/run.sh": "echo hi\n"})

	out := b.ok(t, "app-package", "publish", "blender", "2.79", pkg, "--set-default", "--display-name", "Blender")
	require.Contains(t, out, "published blender 2.79")
	b.ok(t, "app-package", "publish", "blender", "2.80", pkg)

	_, err := b.run(t, "app-package", "publish", "blender", "2.80", pkg)
	require.ErrorIs(t, err, &batch.Error{Code: "ApplicationPackageExists"})
	evil := writeZip(t, map[string]string{"../evil": "x"})
	_, err = b.run(t, "app-package", "publish", "blender", "3.0", evil)
	require.ErrorContains(t, err, "InvalidApplicationPackage")
	require.ErrorContains(t, err, "EntryName=../evil")

	rows := fields(b.ok(t, "app-package", "list"))
	require.Equal(t, [][]string{{"ID", "DISPLAY", "NAME", "VERSIONS"}, {"blender", "Blender", "2.79,2.80"}}, rows)

	out = b.ok(t, "app-package", "show", "blender")
	require.Contains(t, out, "Default version:  2.79")
	b.ok(t, "app-package", "set-default", "blender", "2.80")
	out = b.ok(t, "app-package", "show", "blender")
	require.Contains(t, out, "Default version:  2.80")
	_, err = b.run(t, "app-package", "set-default", "nope", "1")
	require.ErrorIs(t, err, batch.ErrApplicationNotFound)

	b.ok(t, "app-package", "delete", "blender", "2.79")
	rows = fields(b.ok(t, "app-package", "list"))
	require.Equal(t, []string{"blender", "Blender", "2.80"}, rows[1])
	b.ok(t, "app-package", "delete", "blender", "--all")
	rows = fields(b.ok(t, "app-package", "list"))
	require.Len(t, rows, 1, "only the header is left")
}
