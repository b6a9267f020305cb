package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/blob/azuritetest"
	"github.com/natch-io/natch/shared/config"
	"github.com/natch-io/natch/shared/natstest"
)

func setupStorageCLI(t *testing.T) *cliBundle {
	t.Helper()
	srv := natstest.Server(t)
	return &cliBundle{env: map[string]string{
		config.EnvNatsURL: srv.ClientURL(),
		config.EnvAccount: "acct",
		config.EnvConfig:  filepath.Join(t.TempDir(), "none.json"),
	}}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	return dir
}

func lsNames(t *testing.T, b *cliBundle, args ...string) []string {
	t.Helper()
	var items []struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, append(append([]string{"storage", "ls"}, args...), "-o", "json")...)), &items))
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.Name
	}
	return names
}

func TestCLIStorageObjectStore(t *testing.T) {
	t.Parallel()
	b := setupStorageCLI(t)
	src := writeTree(t, map[string]string{"data/a.txt": "alpha", "data/sub/b.txt": "beta"})
	big := filepath.Join(src, "big.bin")
	require.NoError(t, os.WriteFile(big, make([]byte, 3<<20), 0o644))

	out := b.ok(t, "storage", "upload", "inputs", filepath.Join(src, "data"), "--prefix", "run1/")
	require.Contains(t, out, "as run1/data/a.txt (5 bytes)")
	require.Contains(t, out, "as run1/data/sub/b.txt (4 bytes)")
	out = b.ok(t, "storage", "upload", "inputs", big, "--name", "blobs/big.bin", "--progress", "always")
	require.Contains(t, out, "uploaded 1 files (3145728 bytes)")
	require.Equal(t, []string{"blobs/big.bin", "run1/data/a.txt", "run1/data/sub/b.txt"}, lsNames(t, b, "inputs"))
	require.Equal(t, []string{"run1/data/a.txt", "run1/data/sub/b.txt"}, lsNames(t, b, "inputs", "run1/"))
	table := b.ok(t, "storage", "ls", "inputs", "run1/")
	require.Equal(t, []string{"NAME", "SIZE", "LAST", "MODIFIED"}, fields(table)[0])
	require.Equal(t, []string{"run1/data/a.txt", "5"}, fields(table)[1][:2])

	dest := t.TempDir()
	out = b.ok(t, "storage", "download", "nats://inputs", "run1/", "--dest", dest)
	require.Contains(t, out, "downloaded 2 blobs (9 bytes)")
	got, err := os.ReadFile(filepath.Join(dest, "run1/data/sub/b.txt"))
	require.NoError(t, err)
	require.Equal(t, "beta", string(got))

	require.Equal(t, "deleted run1/data/a.txt\n", b.ok(t, "storage", "rm", "inputs", "run1/data/a.txt"))
	require.Equal(t, "deleted blobs/big.bin\n", b.ok(t, "storage", "rm", "inputs", "--prefix", "blobs/"))
	require.Equal(t, []string{"run1/data/sub/b.txt"}, lsNames(t, b, "inputs"))
	_, err = b.run(t, "storage", "rm", "inputs", "missing.txt")
	require.ErrorIs(t, err, blob.ErrNotFound)

	require.Equal(t, "nats://inputs\n", b.ok(t, "storage", "url", "inputs"))
	var ref map[string]string
	require.NoError(t, json.Unmarshal([]byte(b.ok(t, "storage", "url", "inputs", "-o", "json")), &ref))
	require.Equal(t, map[string]string{"autoStorageContainerName": "inputs", "containerUrl": "nats://inputs"}, ref)
	_, err = b.run(t, "storage", "url", "Bad_Name")
	require.ErrorIs(t, err, blob.ErrInvalidName)

	_, err = b.run(t, "storage", "download", "inputs", "nothing/", "--dest", dest)
	require.ErrorContains(t, err, `no blob matches "nothing/"`)
}

func TestCLIStorageNeedsAnEndpoint(t *testing.T) {
	t.Parallel()
	b := &cliBundle{env: map[string]string{config.EnvConfig: filepath.Join(t.TempDir(), "none.json")}}
	_, err := b.run(t, "storage", "ls", "inputs")
	require.ErrorContains(t, err, "no NATS endpoint")
}

func TestCLIStorageAzureSAS(t *testing.T) {
	t.Parallel()
	srv := azuritetest.Start(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := blob.NewAzureFromConnectionString(srv.ConnectionString(), "inputs", blob.Config{HTTPClient: &http.Client{Transport: tr}})
	require.NoError(t, err)
	require.NoError(t, c.Create(t.Context()))
	cred, err := container.NewSharedKeyCredential(azuritetest.AccountName, azuritetest.AccountKey)
	require.NoError(t, err)
	perms := &sas.ContainerPermissions{Read: true, List: true, Write: true, Create: true, Delete: true}
	q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, StartTime: time.Now().Add(-5 * time.Minute).UTC(),
		ExpiryTime: time.Now().Add(time.Hour).UTC(), Permissions: perms.String(), ContainerName: "inputs"}.SignWithSharedKey(cred)
	require.NoError(t, err)
	url := srv.BlobEndpoint + "/inputs?" + q.Encode()

	b := &cliBundle{env: map[string]string{config.EnvConfig: filepath.Join(t.TempDir(), "none.json")}} // no NATS needed
	src := writeTree(t, map[string]string{"scene.txt": "frames"})
	require.Contains(t, b.ok(t, "storage", "upload", url, filepath.Join(src, "scene.txt")), "as scene.txt (6 bytes)")
	require.Equal(t, []string{"scene.txt"}, lsNames(t, b, url))
	require.Equal(t, url+"\n", b.ok(t, "storage", "url", url))
	require.True(t, strings.HasPrefix(b.ok(t, "storage", "rm", url, "scene.txt"), "deleted scene.txt"))
	require.Empty(t, lsNames(t, b, url))

	// A bare name with a connection string is the Azure auto-storage.
	b.env[EnvStorageConnectionString] = srv.ConnectionString()
	b.ok(t, "storage", "upload", "outputs", filepath.Join(src, "scene.txt"))
	require.Equal(t, []string{"scene.txt"}, lsNames(t, b, "outputs"))
}
