package blob

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/blob/azuritetest"
)

// TestAzure covers what the conformance suite cannot: permissions, foreign
// blobs with a wrong Content-MD5, and blob SAS URLs fetched with HTTP.
func TestAzure(t *testing.T) {
	t.Parallel()
	srv := azuritetest.Start(t)
	client := testHTTPClient(t)
	setup := func(t *testing.T) (*Azure, string) {
		name := uniqueContainer()
		a, err := NewAzureFromConnectionString(srv.ConnectionString(), name, Config{HTTPClient: client})
		require.NoError(t, err)
		require.NoError(t, a.Create(t.Context()))
		require.NoError(t, a.Create(t.Context()), "Create is idempotent")
		put(t, a, "dir/in put.txt", []byte("input data"))
		return a, name
	}

	t.Run("ReadOnlySAS", func(t *testing.T) {
		t.Parallel()
		_, name := setup(t)
		ro, err := NewAzureFromURL(containerSAS(t, srv, name, &sas.ContainerPermissions{Read: true, List: true}), Config{HTTPClient: client})
		require.NoError(t, err)
		got, _ := get(t, ro, "dir/in put.txt")
		require.Equal(t, "input data", string(got))
		require.Equal(t, []string{"dir/in put.txt"}, list(t, ro, "dir/"))
		_, err = ro.Put(t.Context(), "out.txt", strings.NewReader("x"), 1, nil)
		require.ErrorIs(t, err, ErrAccessDenied)
		require.NotErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, ro.Delete(t.Context(), "dir/in put.txt"), ErrAccessDenied)
	})

	t.Run("BadSignature", func(t *testing.T) {
		t.Parallel()
		_, name := setup(t)
		good := containerSAS(t, srv, name, &sas.ContainerPermissions{Read: true, List: true})
		i := strings.Index(good, "sig=") + len("sig=")
		bad := good[:i] + "AAAA" + good[i+4:]
		c, err := NewAzureFromURL(bad, Config{HTTPClient: client})
		require.NoError(t, err)
		_, _, err = c.Get(t.Context(), "dir/in put.txt")
		require.ErrorIs(t, err, ErrAccessDenied)
		require.NotContains(t, err.Error(), "AAAA")
		_, err = c.Stat(t.Context(), "dir/in put.txt")
		require.ErrorIs(t, err, ErrAccessDenied)
		for _, err := range c.List(t.Context(), "") {
			require.ErrorIs(t, err, ErrAccessDenied)
		}
	})

	t.Run("WrongAccountKey", func(t *testing.T) {
		t.Parallel()
		_, name := setup(t)
		conn := strings.Replace(srv.ConnectionString(), azuritetest.AccountKey, "d3Jvbmcga2V5", 1)
		c, err := NewAzureFromConnectionString(conn, name, Config{HTTPClient: client})
		require.NoError(t, err)
		_, err = c.Stat(t.Context(), "dir/in put.txt")
		require.ErrorIs(t, err, ErrAccessDenied)
	})

	t.Run("WrongContentMD5", func(t *testing.T) {
		t.Parallel()
		a, _ := setup(t)
		_, err := a.client.NewBlobClient("dir/in put.txt").SetHTTPHeaders(t.Context(),
			blob.HTTPHeaders{BlobContentMD5: make([]byte, 16)}, nil)
		require.NoError(t, err)
		rc, _, err := a.Get(t.Context(), "dir/in put.txt")
		require.NoError(t, err)
		_, err = io.ReadAll(rc)
		require.ErrorIs(t, err, ErrChecksumMismatch)
		require.NoError(t, rc.Close())
	})

	t.Run("BlobSASOverHTTP", func(t *testing.T) {
		t.Parallel()
		a, name := setup(t)
		data := randomBytes(7, 3<<20)
		put(t, a, "big file.bin", data)
		base := containerSAS(t, srv, name, &sas.ContainerPermissions{Read: true})
		path, query, _ := strings.Cut(base, "?")
		h := NewHTTP(Config{HTTPClient: client})

		rc, p, err := h.Get(t.Context(), path+"/big%20file.bin?"+query)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.Equal(t, data, got)
		require.EqualValues(t, len(data), p.Size)
		require.Len(t, p.ContentMD5, 16)
		require.NotEmpty(t, p.ETag)
		require.WithinDuration(t, time.Now(), p.LastModified, time.Minute)

		_, _, err = h.Get(t.Context(), path+"/missing?"+query)
		require.ErrorIs(t, err, ErrNotFound)
		_, _, err = h.Get(t.Context(), path+"/big%20file.bin")
		require.ErrorIs(t, err, ErrAccessDenied, "no SAS on a private container")
	})
}

// TestAzureRedactsTransportErrors: a transport error quotes the request
// URL; the SAS signature must not reach the error message.
func TestAzureRedactsTransportErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // connections are refused from now on
	c, err := NewAzureFromURL("http://"+addr+"/devstoreaccount1/inputs?sv=2024-08-04&sr=c&sp=r&sig=TOPSECRET", Config{HTTPClient: testHTTPClient(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err = c.Stat(ctx, "x")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "TOPSECRET")

	ue := &url.Error{Op: "Get", URL: "http://" + addr + "/devstoreaccount1/inputs/x?sv=1&sig=TOPSECRET&sp=r", Err: syscall.ECONNREFUSED}
	red := redactErr(fmt.Errorf("send: %w", ue))
	require.Equal(t, `send: Get "http://`+addr+`/devstoreaccount1/inputs/x?sv=1&sig=REDACTED&sp=r": connection refused`, red.Error())
	require.ErrorIs(t, red, syscall.ECONNREFUSED)
}
