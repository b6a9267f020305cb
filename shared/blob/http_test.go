package blob

import (
	"crypto/md5" //nolint:gosec // Content-MD5
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHTTPGet(t *testing.T) {
	t.Parallel()
	data := randomBytes(3, 2<<20+7)
	sum := md5.Sum(data) //nolint:gosec // Content-MD5
	modified := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	mux := http.NewServeMux()
	serve := func(md5 string, body []byte, length int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if md5 != "" {
				w.Header().Set("Content-MD5", md5)
			}
			w.Header().Set("ETag", `"0x8DC"`)
			w.Header().Set("Content-Type", "application/x-test")
			w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
			w.Header().Set("Content-Length", strconv.Itoa(length))
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET /ok", serve(base64.StdEncoding.EncodeToString(sum[:]), data, len(data)))
	mux.HandleFunc("GET /no-md5", serve("", data, len(data)))
	mux.HandleFunc("GET /bad-md5", serve(base64.StdEncoding.EncodeToString(make([]byte, 16)), data, len(data)))
	mux.HandleFunc("GET /malformed-md5", serve("nope", data, len(data)))
	mux.HandleFunc("GET /truncated", serve("", data[:100], len(data)))
	mux.HandleFunc("GET /denied", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("x-ms-error-code", "AuthenticationFailed")
		w.WriteHeader(http.StatusForbidden)
	})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h := NewHTTP(Config{HTTPClient: testHTTPClient(t)})

	read := func(t *testing.T, path string) ([]byte, Props, error) {
		rc, p, err := h.Get(t.Context(), srv.URL+path)
		require.NoError(t, err)
		defer func() { require.NoError(t, rc.Close()) }()
		got, err := io.ReadAll(rc)
		return got, p, err
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		got, p, err := read(t, "/ok")
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Equal(t, Props{Size: int64(len(data)), ETag: `"0x8DC"`, LastModified: modified, ContentMD5: sum[:],
			ContentType: "application/x-test"}, p)
	})
	t.Run("NoMD5", func(t *testing.T) {
		t.Parallel()
		got, p, err := read(t, "/no-md5")
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Nil(t, p.ContentMD5)
	})
	t.Run("BadMD5", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, "/bad-md5")
		require.ErrorIs(t, err, ErrChecksumMismatch)
	})
	t.Run("MalformedMD5", func(t *testing.T) {
		t.Parallel()
		_, _, err := h.Get(t.Context(), srv.URL+"/malformed-md5")
		require.ErrorContains(t, err, "Content-MD5")
	})
	t.Run("Truncated", func(t *testing.T) {
		t.Parallel()
		_, _, err := read(t, "/truncated")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("Statuses", func(t *testing.T) {
		t.Parallel()
		_, _, err := h.Get(t.Context(), srv.URL+"/missing?sig=SECRET")
		require.ErrorIs(t, err, ErrNotFound)
		require.NotContains(t, err.Error(), "SECRET")
		_, _, err = h.Get(t.Context(), srv.URL+"/denied")
		require.ErrorIs(t, err, ErrAccessDenied)
		require.ErrorContains(t, err, "AuthenticationFailed")
		_, _, err = h.Get(t.Context(), srv.URL+"/broken")
		require.ErrorContains(t, err, "500")
		require.NotErrorIs(t, err, ErrNotFound)
		require.NotErrorIs(t, err, ErrAccessDenied)
	})
	t.Run("InvalidURLs", func(t *testing.T) {
		t.Parallel()
		for _, u := range []string{"", "file:///etc/passwd", "ftp://x/y", "http://", "https:///path", "relative/path", "http://[::1", "mailto:x@y"} {
			_, _, err := h.Get(t.Context(), u)
			require.ErrorIs(t, err, ErrInvalidRef, "%q", u)
		}
	})
	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		_, _, err = h.Get(t.Context(), "http://"+addr+"/x?sv=1&sig=TOPSECRET")
		require.Error(t, err)
		require.NotContains(t, err.Error(), "TOPSECRET")
		require.Contains(t, err.Error(), "sig=REDACTED")
	})
}
