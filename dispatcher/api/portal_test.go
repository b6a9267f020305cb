package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// do serves one request with a server that has no service: enough for the
// routes that never reach it (the portal, the root).
func do(t *testing.T, method, target, accept string) *httptest.ResponseRecorder {
	t.Helper()
	s := New(nil, nil, Config{})
	req := httptest.NewRequest(method, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestRootRedirectsBrowsersToPortal(t *testing.T) {
	t.Parallel()
	rec := do(t, "GET", "/", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	require.Equal(t, http.StatusFound, rec.Code)
	require.Equal(t, "/portal/", rec.Header().Get("Location"))
}

func TestRootIsNotFoundForAPIClients(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, method, target, accept string }{
		{name: "JSON", method: "GET", target: "/", accept: "application/json"},
		{name: "NoAccept", method: "GET", target: "/"},
		{name: "Any", method: "GET", target: "/", accept: "*/*"},
		{name: "HTMLOtherPath", method: "GET", target: "/nope", accept: "text/html"},
		{name: "HTMLPost", method: "POST", target: "/", accept: "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, tt.method, tt.target, tt.accept)
			require.Equal(t, http.StatusNotFound, rec.Code)
			require.Equal(t, jsonContentType, rec.Header().Get("Content-Type"))
			var body struct {
				Code    string `json:"code"`
				Message struct {
					Value string `json:"value"`
				} `json:"message"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, "ResourceNotFound", body.Code)
			require.Contains(t, body.Message.Value, "The specified resource does not exist.")
		})
	}
}

func TestPortalIsMounted(t *testing.T) {
	t.Parallel()
	rec := do(t, "GET", "/portal/", "text/html")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'self'")

	bare := do(t, "GET", "/portal", "text/html")
	require.Equal(t, http.StatusMovedPermanently, bare.Code)
	require.Equal(t, "/portal/", bare.Header().Get("Location"))
}
