package portal_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/natch-io/natch/dispatcher/portal"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testBundle struct {
	h http.Handler
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{h: portal.Handler()}
}

func (b *testBundle) get(t *testing.T, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

func requireSecurityHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	require.Equal(t, portal.ContentSecurityPolicy, h.Get("Content-Security-Policy"))
	require.Contains(t, h.Get("Content-Security-Policy"), "default-src 'self'")
	require.NotContains(t, h.Get("Content-Security-Policy"), "unsafe-inline")
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
}

func TestIndex(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.get(t, "GET", "/portal/", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	requireSecurityHeaders(t, rec)
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
	body := rec.Body.String()
	require.Contains(t, body, `<script type="module" src="app.js"></script>`)
	require.Contains(t, body, `<link rel="stylesheet" href="style.css">`)
	// The CSP forbids inline code: the page must have none.
	require.NotContains(t, body, "<style")
	require.NotContains(t, body, " style=")
	require.NotRegexp(t, `<script(?: type="module")?>`, body)
	require.NotContains(t, body, "onclick=")

	idx := b.get(t, "GET", "/portal/index.html", nil)
	require.Equal(t, http.StatusOK, idx.Code)
	require.Equal(t, body, idx.Body.String())
}

func TestRedirectsBarePrefix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.get(t, "GET", "/portal", nil)
	require.Equal(t, http.StatusMovedPermanently, rec.Code)
	require.Equal(t, "/portal/", rec.Header().Get("Location"))
}

func TestAssets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name, path, contentType, contains string
	}{
		{name: "App", path: "/portal/app.js", contentType: "text/javascript; charset=utf-8", contains: "import"},
		{name: "Signing", path: "/portal/sign.js", contentType: "text/javascript; charset=utf-8", contains: "export function stringToSign"},
		{name: "Style", path: "/portal/style.css", contentType: "text/css; charset=utf-8", contains: ".badge"},
		{name: "Icon", path: "/portal/favicon.svg", contentType: "image/svg+xml", contains: "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := b.get(t, "GET", tt.path, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			requireSecurityHeaders(t, rec)
			require.Equal(t, tt.contentType, rec.Header().Get("Content-Type"))
			require.Contains(t, rec.Body.String(), tt.contains)
			etag := rec.Header().Get("ETag")
			require.NotEmpty(t, etag)

			// A revalidation with the ETag is answered 304 without a body.
			again := b.get(t, "GET", tt.path, http.Header{"If-None-Match": {etag}})
			require.Equal(t, http.StatusNotModified, again.Code)
			require.Empty(t, again.Body.String())
		})
	}
}

func TestEveryModuleIsServed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Every relative import of every module must resolve to a served file.
	app := b.get(t, "GET", "/portal/app.js", nil).Body.String()
	for _, line := range strings.Split(app, "\n") {
		_, rest, ok := strings.Cut(line, "from './")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "'")
		rec := b.get(t, "GET", "/portal/"+name, nil)
		require.Equal(t, http.StatusOK, rec.Code, name)
		require.Equal(t, "text/javascript; charset=utf-8", rec.Header().Get("Content-Type"), name)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/portal/nope.js", "/portal/static/app.js", "/portal/jobs", "/elsewhere"} {
		rec := b.get(t, "GET", p, nil)
		require.Equal(t, http.StatusNotFound, rec.Code, p)
		requireSecurityHeaders(t, rec)
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.get(t, "HEAD", "/portal/style.css", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Body.String())
}

func TestRejectsWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.get(t, "POST", "/portal/", nil)
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}
