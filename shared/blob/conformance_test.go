package blob

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // Content-MD5
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/blob/azuritetest"
	"github.com/natch-io/natch/shared/natstest"
)

// newContainer returns a fresh container of a backend: created (empty), or
// one that does not exist when create is false.
type newContainer func(t *testing.T, create bool) Container

// backend is one row of the conformance table.
type backend struct {
	name   string
	hasMD5 bool // Props.ContentMD5 is set
	start  func(t *testing.T) newContainer
}

func backends() []backend {
	return []backend{
		{name: "ObjectStore", start: startObjectStore},
		{name: "AzureConnectionString", hasMD5: true, start: startAzureConnectionString},
		{name: "AzureSAS", hasMD5: true, start: startAzureSAS},
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testConformance(t, b, b.start(t))
		})
	}
}

// testHTTPClient is an HTTP client whose connections close when the test ends.
func testHTTPClient(t *testing.T) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// containerSeq hands out unique container names within a test binary.
var containerSeq atomic.Int64 //nolint:gochecknoglobals // test-only counter

func uniqueContainer() string {
	return fmt.Sprintf("c%d-%d", time.Now().UnixNano()%1e6, containerSeq.Add(1))
}

func startObjectStore(t *testing.T) newContainer {
	js := natstest.Run(t)
	return func(t *testing.T, create bool) Container {
		cfg := Config{Account: "acct-1", JetStream: js}
		c, err := Open(t.Context(), "nats://"+uniqueContainer(), cfg)
		require.NoError(t, err)
		if create {
			require.NoError(t, c.(*ObjectStore).Create(t.Context()))
		}
		return c
	}
}

func startAzureConnectionString(t *testing.T) newContainer {
	srv := azuritetest.Start(t)
	client := testHTTPClient(t)
	return func(t *testing.T, create bool) Container {
		cfg := Config{ConnectionString: srv.ConnectionString(), HTTPClient: client}
		c, err := Open(t.Context(), uniqueContainer(), cfg) // a bare name: the account's auto-storage
		require.NoError(t, err)
		if create {
			require.NoError(t, c.(*Azure).Create(t.Context()))
		}
		return c
	}
}

func startAzureSAS(t *testing.T) newContainer {
	srv := azuritetest.Start(t)
	client := testHTTPClient(t)
	return func(t *testing.T, create bool) Container {
		name := uniqueContainer()
		if create {
			createAzureContainer(t, srv, name, client)
		}
		url := containerSAS(t, srv, name, &sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true})
		c, err := Open(t.Context(), url, Config{HTTPClient: client})
		require.NoError(t, err)
		return c
	}
}

func createAzureContainer(t *testing.T, srv *azuritetest.Server, name string, client *http.Client) {
	t.Helper()
	a, err := NewAzureFromConnectionString(srv.ConnectionString(), name, Config{HTTPClient: client})
	require.NoError(t, err)
	require.NoError(t, a.Create(t.Context()))
}

// containerSAS is a SAS URL for container name of srv, signed with the
// account key by azblob's SAS helpers.
func containerSAS(t *testing.T, srv *azuritetest.Server, name string, perms *sas.ContainerPermissions) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(azuritetest.AccountName, azuritetest.AccountKey)
	require.NoError(t, err)
	q, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		StartTime:     time.Now().Add(-5 * time.Minute).UTC(),
		ExpiryTime:    time.Now().Add(time.Hour).UTC(),
		Permissions:   perms.String(),
		ContainerName: name,
	}.SignWithSharedKey(cred)
	require.NoError(t, err)
	return srv.BlobEndpoint + "/" + name + "?" + q.Encode()
}

func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func put(t *testing.T, c Container, name string, data []byte) Props {
	t.Helper()
	p, err := c.Put(t.Context(), name, bytes.NewReader(data), int64(len(data)), nil)
	require.NoError(t, err)
	return p
}

func get(t *testing.T, c Container, name string) ([]byte, Props) {
	t.Helper()
	rc, p, err := c.Get(t.Context(), name)
	require.NoError(t, err)
	defer func() { require.NoError(t, rc.Close()) }()
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	return data, p
}

func list(t *testing.T, c Container, prefix string) []string {
	t.Helper()
	names := []string{}
	for p, err := range c.List(t.Context(), prefix) {
		require.NoError(t, err)
		names = append(names, p.Name)
	}
	return names
}

// testConformance is the behaviour every Container must have.
func testConformance(t *testing.T, b backend, newC newContainer) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		data := []byte("hello, natch\n")
		before := time.Now().Add(-time.Minute)
		pp := put(t, c, "hello.txt", data)
		require.Equal(t, "hello.txt", pp.Name)
		require.EqualValues(t, len(data), pp.Size)
		require.NotEmpty(t, pp.ETag)

		got, gp := get(t, c, "hello.txt")
		require.Equal(t, data, got)
		require.Equal(t, "hello.txt", gp.Name)
		require.EqualValues(t, len(data), gp.Size)
		require.Equal(t, pp.ETag, gp.ETag)
		require.WithinRange(t, gp.LastModified, before, time.Now().Add(time.Minute))
		sum := md5.Sum(data) //nolint:gosec // Content-MD5
		if b.hasMD5 {
			require.Equal(t, sum[:], pp.ContentMD5)
			require.Equal(t, sum[:], gp.ContentMD5)
		}
	})

	t.Run("LargeBlob", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		for _, tc := range []struct {
			name string
			size int64 // passed to Put
			n    int
		}{
			{name: "big/known-size.bin", n: 6<<20 + 12345},
			{name: "big/unknown-size.bin", size: -1, n: 5<<20 + 1},
		} {
			data := randomBytes(uint64(tc.n), tc.n)
			size := tc.size
			if size == 0 {
				size = int64(len(data))
			}
			pp, err := c.Put(t.Context(), tc.name, io.MultiReader(bytes.NewReader(data[:1000]), bytes.NewReader(data[1000:])), size, nil)
			require.NoError(t, err)
			require.EqualValues(t, tc.n, pp.Size)
			got, gp := get(t, c, tc.name)
			require.True(t, bytes.Equal(data, got), "%s: downloaded bytes differ", tc.name)
			require.EqualValues(t, tc.n, gp.Size)
			if b.hasMD5 {
				sum := md5.Sum(data) //nolint:gosec // Content-MD5
				require.Equal(t, sum[:], gp.ContentMD5, "multi-block uploads record the whole blob's MD5")
			}
		}
	})

	t.Run("EmptyBlob", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		put(t, c, "empty", nil)
		got, p := get(t, c, "empty")
		require.Empty(t, got)
		require.Zero(t, p.Size)
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		p1 := put(t, c, "f", []byte("first version"))
		p2 := put(t, c, "f", []byte("second"))
		require.NotEqual(t, p1.ETag, p2.ETag)
		got, _ := get(t, c, "f")
		require.Equal(t, "second", string(got))
		require.Equal(t, []string{"f"}, list(t, c, ""))
	})

	t.Run("Stat", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		pp, err := c.Put(t.Context(), "dir/page.html", strings.NewReader("<p>hi</p>"), -1, &PutOpts{ContentType: "text/html"})
		require.NoError(t, err)
		sp, err := c.Stat(t.Context(), "dir/page.html")
		require.NoError(t, err)
		require.Equal(t, "dir/page.html", sp.Name)
		require.EqualValues(t, 9, sp.Size)
		require.Equal(t, pp.ETag, sp.ETag)
		require.Equal(t, "text/html", sp.ContentType)
		require.False(t, sp.LastModified.IsZero())
		_, gp := get(t, c, "dir/page.html")
		require.Equal(t, "text/html", gp.ContentType)
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		all := []string{"a.txt", "dir/b.txt", "dir/sub/c.txt", "dir2/d.txt", "dirx", "z"}
		for i, n := range all {
			put(t, c, n, bytes.Repeat([]byte{'x'}, i+1))
		}
		require.Equal(t, all, list(t, c, ""))
		require.Equal(t, []string{"dir/b.txt", "dir/sub/c.txt"}, list(t, c, "dir/"))
		require.Equal(t, []string{"dir/b.txt", "dir/sub/c.txt", "dir2/d.txt", "dirx"}, list(t, c, "dir"))
		require.Equal(t, []string{"dir/sub/c.txt"}, list(t, c, "dir/sub/"))
		require.Empty(t, list(t, c, "nothing/"))
		for p, err := range c.List(t.Context(), "dir/sub/") {
			require.NoError(t, err)
			require.EqualValues(t, 3, p.Size)
			require.NotEmpty(t, p.ETag)
			require.False(t, p.LastModified.IsZero())
		}
		n := 0
		for range c.List(t.Context(), "") { // stopping early is fine
			n++
			break
		}
		require.Equal(t, 1, n)
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		put(t, c, "dir/doomed", []byte("x"))
		put(t, c, "dir/kept", []byte("y"))
		require.NoError(t, c.Delete(t.Context(), "dir/doomed"))
		_, err := c.Stat(t.Context(), "dir/doomed")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, c.Delete(t.Context(), "dir/doomed"), ErrNotFound)
		require.Equal(t, []string{"dir/kept"}, list(t, c, ""))
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		_, _, err := c.Get(t.Context(), "missing.txt")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorContains(t, err, `"missing.txt"`)
		_, err = c.Stat(t.Context(), "missing.txt")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, c.Delete(t.Context(), "missing.txt"), ErrNotFound)
		require.NotErrorIs(t, err, ErrAccessDenied)
	})

	t.Run("MissingContainer", func(t *testing.T) {
		t.Parallel()
		c := newC(t, false)
		_, _, err := c.Get(t.Context(), "x")
		require.ErrorIs(t, err, ErrNotFound)
		_, err = c.Stat(t.Context(), "x")
		require.ErrorIs(t, err, ErrNotFound)
		_, err = c.Put(t.Context(), "x", strings.NewReader("x"), 1, nil)
		require.ErrorIs(t, err, ErrNotFound)
		var listErr error
		for _, err := range c.List(t.Context(), "") {
			listErr = err
		}
		require.ErrorIs(t, listErr, ErrNotFound)
	})

	t.Run("UnusualNames", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		names := []string{
			"with space.txt",
			"ünïcødé/文件.bin",
			"emoji 🚀/ok",
			"q?hash#pct%20.txt",
			"a+b=c&d;e,f'g\"h.txt",
			"..dots/.hidden/x..y",
			"deep/" + strings.Repeat("d/", 40) + "leaf",
		}
		for i, n := range names {
			put(t, c, n, []byte(n+fmt.Sprint(i)))
		}
		for i, n := range names {
			got, p := get(t, c, n)
			require.Equal(t, n+fmt.Sprint(i), string(got), n)
			require.Equal(t, n, p.Name)
		}
		want := append([]string(nil), names...)
		slices.Sort(want)
		require.Equal(t, want, list(t, c, ""))
		require.Equal(t, []string{"ünïcødé/文件.bin"}, list(t, c, "ünïcødé/"))
	})

	t.Run("InvalidNames", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		for _, n := range []string{"", "/abs", "a/../b", "..", ".", "a//b", "dir/", "a\x00b", "tab\tname",
			`back\slash`, "bad\xffutf8", "trailing.", strings.Repeat("x", MaxNameLen+1)} {
			_, err := c.Put(t.Context(), n, strings.NewReader("x"), 1, nil)
			require.ErrorIs(t, err, ErrInvalidName, "%q", n)
			_, _, err = c.Get(t.Context(), n)
			require.ErrorIs(t, err, ErrInvalidName, "%q", n)
			_, err = c.Stat(t.Context(), n)
			require.ErrorIs(t, err, ErrInvalidName, "%q", n)
			require.ErrorIs(t, c.Delete(t.Context(), n), ErrInvalidName, "%q", n)
		}
		for _, prefix := range []string{"../", "/x", "a//", "\x01"} {
			for _, err := range c.List(t.Context(), prefix) {
				require.ErrorIs(t, err, ErrInvalidName, "%q", prefix)
			}
		}
		require.Empty(t, list(t, c, ""))
	})

	t.Run("SizeMismatchStoresNothing", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		_, err := c.Put(t.Context(), "short", strings.NewReader("12345"), 10, nil)
		require.Error(t, err)
		_, err = c.Put(t.Context(), "long", strings.NewReader("12345"), 2, nil)
		require.Error(t, err)
		_, err = c.Put(t.Context(), "failing", io.MultiReader(strings.NewReader("abc"), errReader{}), -1, nil)
		require.ErrorIs(t, err, errBrokenReader)
		require.Empty(t, list(t, c, ""))
	})

	t.Run("Canceled", func(t *testing.T) {
		t.Parallel()
		c := newC(t, true)
		put(t, c, "x", []byte("x"))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Stat(ctx, "x")
		require.ErrorIs(t, err, context.Canceled)
	})
}

var errBrokenReader = errors.New("broken reader") //nolint:gochecknoglobals // test sentinel

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBrokenReader }
