package stage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/blob/azuritetest"
	"github.com/natch-io/natch/shared/natstest"
)

// backend is a blob store to stage from and upload to.
type backend struct {
	cfg blob.Config
	// newContainer creates a container and returns it with the reference a
	// resource file's storageContainerUrl or an output's containerUrl uses.
	newContainer func(t *testing.T) (blob.Container, string)
	// auto makes rf read container c of the auto-storage.
	autoName func(ref string) string
}

var containerSeq atomic.Int64 //nolint:gochecknoglobals // test-only counter

func uniqueContainer() string {
	return fmt.Sprintf("c%d-%d", time.Now().UnixNano()%1e6, containerSeq.Add(1))
}

func objectStoreBackend(t *testing.T) backend {
	js := natstest.Run(t)
	cfg := blob.Config{Account: "acct", JetStream: js}
	return backend{cfg: cfg,
		newContainer: func(t *testing.T) (blob.Container, string) {
			name := uniqueContainer()
			c, err := blob.NewObjectStore(js, name, cfg)
			require.NoError(t, err)
			require.NoError(t, c.Create(t.Context()))
			return c, "nats://" + name
		},
		autoName: func(ref string) string { return strings.TrimPrefix(ref, "nats://") },
	}
}

func azuriteBackend(t *testing.T) backend {
	srv := azuritetest.Start(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	cfg := blob.Config{ConnectionString: srv.ConnectionString(), HTTPClient: &http.Client{Transport: tr}}
	return backend{cfg: cfg,
		newContainer: func(t *testing.T) (blob.Container, string) {
			name := uniqueContainer()
			c, err := blob.NewAzureFromConnectionString(srv.ConnectionString(), name, cfg)
			require.NoError(t, err)
			require.NoError(t, c.Create(t.Context()))
			return c, containerSAS(t, srv, name)
		},
		autoName: func(ref string) string {
			u, _, _ := strings.Cut(ref, "?")
			return u[strings.LastIndex(u, "/")+1:]
		},
	}
}

func containerSAS(t *testing.T, srv *azuritetest.Server, name string) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(azuritetest.AccountName, azuritetest.AccountKey)
	require.NoError(t, err)
	perms := &sas.ContainerPermissions{Read: true, List: true, Write: true, Create: true}
	q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, StartTime: time.Now().Add(-5 * time.Minute).UTC(),
		ExpiryTime: time.Now().Add(time.Hour).UTC(), Permissions: perms.String(), ContainerName: name}.SignWithSharedKey(cred)
	require.NoError(t, err)
	return srv.BlobEndpoint + "/" + name + "?" + q.Encode()
}

func putBlob(t *testing.T, c blob.Container, name, data string) {
	t.Helper()
	_, err := c.Put(t.Context(), name, strings.NewReader(data), int64(len(data)), nil)
	require.NoError(t, err)
}

func listBlobs(t *testing.T, c blob.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, err := range c.List(t.Context(), "") {
		require.NoError(t, err)
		rc, _, err := c.Get(t.Context(), p.Name)
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		out[p.Name] = string(b)
	}
	return out
}

// fileServer serves /h.txt with an ETag, counting requests; other paths are 404.
func fileServer(t *testing.T, body string) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/h.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func newStager(t *testing.T, b backend, cacheDir string) *Stager {
	t.Helper()
	s, err := New(Config{Blob: b.cfg, CacheDir: cacheDir, Parallel: 4})
	require.NoError(t, err)
	return s
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

func TestStageAndUpload(t *testing.T) {
	t.Parallel()
	for name, start := range map[string]func(*testing.T) backend{"ObjectStore": objectStoreBackend, "Azurite": azuriteBackend} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := start(t)
			in, inRef := b.newContainer(t)
			putBlob(t, in, "data/a.txt", "A")
			putBlob(t, in, "data/sub/b.txt", "BB")
			putBlob(t, in, "other/c.txt", "C")
			web, _ := fileServer(t, "hello over http")
			s := newStager(t, b, filepath.Join(t.TempDir(), "cache"))

			files := []batch.ResourceFile{
				{StorageContainerURL: inRef, BlobPrefix: "data/", FilePath: "in"},
				{AutoStorageContainerName: b.autoName(inRef), BlobPrefix: "other/"},
				{HTTPURL: web.URL + "/h.txt", FilePath: "in/h.txt", FileMode: "0755"},
			}
			task1, task2 := t.TempDir(), t.TempDir()
			for _, dir := range []string{task1, task2} {
				wd := filepath.Join(dir, "wd")
				require.NoError(t, s.Stage(t.Context(), wd, files))
				require.Equal(t, "A", readFile(t, filepath.Join(wd, "in/data/a.txt")))
				require.Equal(t, "BB", readFile(t, filepath.Join(wd, "in/data/sub/b.txt")))
				require.Equal(t, "C", readFile(t, filepath.Join(wd, "other/c.txt")))
				require.Equal(t, "hello over http", readFile(t, filepath.Join(wd, "in/h.txt")))
				fi, err := os.Stat(filepath.Join(wd, "in/h.txt"))
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
				fi, err = os.Stat(filepath.Join(wd, "in/data/a.txt"))
				require.NoError(t, err)
				require.Equal(t, DefaultFileMode, fi.Mode().Perm(), "Azure's default fileMode")
			}
			// The second task got the same cached files: hard links, not downloads.
			for _, f := range []string{"in/data/a.txt", "in/data/sub/b.txt", "other/c.txt", "in/h.txt"} {
				a, err := os.Stat(filepath.Join(task1, "wd", f))
				require.NoError(t, err)
				c, err := os.Stat(filepath.Join(task2, "wd", f))
				require.NoError(t, err)
				require.True(t, os.SameFile(a, c), "%s is linked from the cache", f)
			}
			n, size := s.cache.stats()
			require.Equal(t, 4, n)
			require.EqualValues(t, 1+2+1+len("hello over http"), size)

			// Outputs.
			out, outRef := b.newContainer(t)
			wd := filepath.Join(task1, "wd")
			require.NoError(t, os.MkdirAll(filepath.Join(wd, "out/sub"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(wd, "out/r1.txt"), []byte("r1"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(wd, "out/sub/r2.txt"), []byte("r2"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(wd, "out/.hidden"), []byte("h"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(task1, "stdout.txt"), []byte("so"), 0o644))
			dest := func(p string) batch.OutputFileDestination {
				return batch.OutputFileDestination{Container: &batch.OutputFileBlobContainerDestination{ContainerURL: outRef, Path: p}}
			}
			outputs := []batch.OutputFile{
				{FilePattern: "out/**", Destination: dest("res"), UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "taskSuccess"}},
				{FilePattern: "../stdout.txt", Destination: dest("logs/so.txt"), UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "TaskCompletion"}},
				{FilePattern: "out/r1.txt", Destination: dest("failed.txt"), UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "taskfailure"}},
				{FilePattern: "nothing/*.bin", Destination: dest(""), UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "taskcompletion"}},
			}
			require.NoError(t, s.Upload(t.Context(), task1, outputs, 0))
			require.Equal(t, map[string]string{"res/r1.txt": "r1", "res/sub/r2.txt": "r2", "logs/so.txt": "so"}, listBlobs(t, out))
			require.Contains(t, readFile(t, filepath.Join(task1, UploadOutFile)), "wd/out/sub/r2.txt")
			require.NoFileExists(t, filepath.Join(task1, UploadErrFile))

			// A failed task uploads the taskFailure outputs only.
			require.NoError(t, s.Upload(t.Context(), task1, outputs[2:3], 1))
			require.Equal(t, "r1", listBlobs(t, out)["failed.txt"])

			if name == "Azurite" { // a SAS with a wrong signature: BlobAccessDenied, and no signature in the message
				i := strings.Index(inRef, "sig=") + len("sig=")
				bad := inRef[:i] + "AAAA" + inRef[i+4:]
				err := s.Stage(t.Context(), filepath.Join(t.TempDir(), "wd"), []batch.ResourceFile{{StorageContainerURL: bad}})
				var se *Error
				require.ErrorAs(t, err, &se)
				require.Equal(t, CodeBlobAccessDenied, se.Code)
				require.NotContains(t, se.Message, "AAAA")
			}
		})
	}
}

func TestStageFailures(t *testing.T) {
	t.Parallel()
	b := objectStoreBackend(t)
	in, inRef := b.newContainer(t)
	putBlob(t, in, "data/a.txt", "A")
	web, _ := fileServer(t, "x")
	s := newStager(t, b, filepath.Join(t.TempDir(), "cache"))

	tests := []struct {
		name     string
		rf       batch.ResourceFile
		wantCode string
		wantMsg  string
	}{
		{name: "HTTPNotFound", rf: batch.ResourceFile{HTTPURL: web.URL + "/missing.txt", FilePath: "m.txt"},
			wantCode: CodeBlobNotFound, wantMsg: `"m.txt"`},
		{name: "PrefixMatchesNothing", rf: batch.ResourceFile{StorageContainerURL: inRef, BlobPrefix: "nope/"},
			wantCode: CodeBlobNotFound, wantMsg: `"nope/"`},
		{name: "MissingContainer", rf: batch.ResourceFile{AutoStorageContainerName: "no-such-container", FilePath: "x"},
			wantCode: CodeBlobNotFound, wantMsg: "no-such-container"},
		{name: "Escape", rf: batch.ResourceFile{HTTPURL: web.URL + "/h.txt", FilePath: "../stdout.txt"},
			wantCode: CodeResourceFileCreate, wantMsg: "escapes"},
		{name: "Absolute", rf: batch.ResourceFile{StorageContainerURL: inRef, FilePath: "/tmp"},
			wantCode: CodeResourceFileCreate, wantMsg: "absolute"},
		{name: "NoSource", rf: batch.ResourceFile{FilePath: "x"},
			wantCode: CodeResourceFileCreate, wantMsg: "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.Stage(t.Context(), filepath.Join(t.TempDir(), "wd"), []batch.ResourceFile{tt.rf})
			var se *Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, tt.wantCode, se.Code)
			require.Contains(t, se.Message, tt.wantMsg)
			fi := se.FailureInfo()
			require.Equal(t, batch.CategoryUser, fi.Category)
			require.Equal(t, tt.wantCode, fi.Code)
		})
	}
}

// TestStageSymlinkEscape: a symbolic link left in the working directory
// (by an earlier attempt) cannot redirect a resource file out of it.
func TestStageSymlinkEscape(t *testing.T) {
	t.Parallel()
	b := objectStoreBackend(t)
	web, _ := fileServer(t, "payload")
	for name, cacheDir := range map[string]string{"Cached": filepath.Join(t.TempDir(), "cache"), "Uncached": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStager(t, b, cacheDir)
			outside := t.TempDir()
			wd := filepath.Join(t.TempDir(), "wd")
			require.NoError(t, os.MkdirAll(wd, 0o755))
			require.NoError(t, os.Symlink(outside, filepath.Join(wd, "evil")))
			err := s.Stage(t.Context(), wd, []batch.ResourceFile{{HTTPURL: web.URL + "/h.txt", FilePath: "evil/x.txt"}})
			var se *Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, CodeResourceFileCreate, se.Code)
			require.Contains(t, se.Message, "evil/x.txt")
			entries, err := os.ReadDir(outside)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing was written outside the working directory")
		})
	}
}

func TestUploadRefusesEscapes(t *testing.T) {
	t.Parallel()
	b := objectStoreBackend(t)
	out, outRef := b.newContainer(t)
	s := newStager(t, b, "")
	secret := filepath.Join(t.TempDir(), "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o644))

	tests := []struct {
		name    string
		pattern string
		link    bool // wd/out/link → the secret file
		wantMsg string
	}{
		{name: "DotDot", pattern: "../../secret.txt", wantMsg: "escapes"},
		{name: "Absolute", pattern: secret, wantMsg: "absolute"},
		{name: "SymlinkLiteral", pattern: "out/link", link: true, wantMsg: "out/link"},
		{name: "SymlinkGlob", pattern: "out/**", link: true, wantMsg: "escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			task := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(task, "wd/out"), 0o755))
			if tt.link {
				require.NoError(t, os.Symlink(secret, filepath.Join(task, "wd/out/link")))
			}
			err := s.Upload(t.Context(), task, []batch.OutputFile{{FilePattern: tt.pattern,
				Destination:   batch.OutputFileDestination{Container: &batch.OutputFileBlobContainerDestination{ContainerURL: outRef, Path: tt.name}},
				UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "taskcompletion"}}}, 0)
			var se *Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, CodeFileUploadMiscError, se.Code)
			require.Contains(t, se.Message, tt.wantMsg)
			require.FileExists(t, filepath.Join(task, UploadErrFile))
			for p, err := range out.List(t.Context(), tt.name) {
				require.NoError(t, err)
				require.Fail(t, "nothing may be uploaded", p.Name)
			}
		})
	}
}

func TestUploadMissingLiteralFile(t *testing.T) {
	t.Parallel()
	b := objectStoreBackend(t)
	_, outRef := b.newContainer(t)
	s := newStager(t, b, "")
	task := t.TempDir()
	err := s.Upload(t.Context(), task, []batch.OutputFile{{FilePattern: "result.txt",
		Destination:   batch.OutputFileDestination{Container: &batch.OutputFileBlobContainerDestination{ContainerURL: outRef}},
		UploadOptions: batch.OutputFileUploadOptions{UploadCondition: "tasksuccess"}}}, 0)
	var se *Error
	require.ErrorAs(t, err, &se)
	require.Contains(t, se.Message, `"wd/result.txt"`)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestCacheSingleFlight(t *testing.T) {
	t.Parallel()
	c := newCache(t.TempDir(), 1<<20, slog.New(slog.DiscardHandler))
	require.NoError(t, c.load())
	var opens atomic.Int64
	release := make(chan struct{})
	open := func(context.Context) (io.ReadCloser, error) {
		opens.Add(1)
		<-release
		return io.NopCloser(strings.NewReader("content")), nil
	}
	const n = 8
	paths := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			p, rel, ok, err := c.fill(t.Context(), "k"+strings.Repeat("0", 63), 7, 0o644, open)
			if err == nil && !ok {
				err = errors.New("not cached")
			}
			if err == nil {
				rel()
			}
			paths <- p
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return opens.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(release)
	for range n {
		require.NoError(t, <-errs)
		require.Equal(t, "content", readFile(t, <-paths))
	}
	require.EqualValues(t, 1, opens.Load(), "one download for all")
}

func TestCacheEvictsLRUAndDropsChangedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newCache(dir, 10, slog.New(slog.DiscardHandler))
	require.NoError(t, c.load())
	key := func(i int) string { return fmt.Sprintf("%064d", i) }
	fill := func(i int) (string, func()) {
		p, rel, ok, err := c.fill(t.Context(), key(i), 4, 0o644, func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader([]byte{byte(i), 0, 0, 0})), nil
		})
		require.NoError(t, err)
		require.True(t, ok)
		return p, rel
	}
	_, rel1 := fill(1)
	rel1()
	p2, rel2 := fill(2) // held
	_, rel3 := fill(3)  // 12 bytes > 10: the oldest unused (1) goes
	rel3()
	_, _, ok := c.lookup(key(1))
	require.False(t, ok)
	n, size := c.stats()
	require.Equal(t, 2, n)
	require.EqualValues(t, 8, size)
	_, _, ok, err := c.fill(t.Context(), key(9), 11, 0o644, nil)
	require.NoError(t, err)
	require.False(t, ok, "bigger than the cache: not cached")

	// A task wrote through its hard link: the entry is dropped.
	rel2()
	require.NoError(t, os.WriteFile(p2, []byte("changed!"), 0o644))
	_, _, ok = c.lookup(key(2))
	require.False(t, ok)

	// A restarted worker finds what is cached.
	c2 := newCache(dir, 10, slog.New(slog.DiscardHandler))
	require.NoError(t, c2.load())
	_, rel, ok := c2.lookup(key(3))
	require.True(t, ok)
	rel()
	keys := []string{}
	for k := range c2.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	require.Equal(t, []string{key(3)}, keys)
}
