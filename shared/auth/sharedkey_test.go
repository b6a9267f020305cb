package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sdkKey = "AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dzj6vH4/wYNFBsiKTA3PkVMU1phaG92fYSLkpmgp661vA=="

// Signatures recorded from @azure/batch 10.2.0 on the wire
// (shared/reference/azure-batch-sdk-wire.md §5).
func TestVerifyRecordedSDKRequests(t *testing.T) {
	t.Parallel()
	key, err := DecodeKey(sdkKey)
	require.NoError(t, err)
	tests := []struct {
		name, method, target, ctype, date, sig string
		bodyLen                                int
		extra                                  map[string]string
	}{
		{name: "PoolAdd", method: "POST", target: "/pools?api-version=2022-10-01.16.0",
			ctype: "application/json; odata=minimalmetadata; charset=utf-8", bodyLen: 1054,
			date: "Fri, 27 Nov 2026 23:45:57 GMT", sig: "JSY0QeLJzD0ysMa4apS1ZSy6wfmbkmFEMA2mHbVPdYA="},
		{name: "PoolListFilter", method: "GET",
			target: "/pools?api-version=2022-10-01.16.0&$filter=state%20eq%20%27active%27%20and%20startswith(id%2C%27pool%27)&$select=id%2Cstate%2CvmSize&maxresults=10",
			ctype:  "application/json; charset=utf-8", date: "Fri, 27 Nov 2026 23:45:57 GMT", sig: "rr9JXTc/l8CdaATxUKVhLVPFwhAmBzBr+iC0/OG6kx4="},
		{name: "PoolDelete", method: "DELETE", target: "/pools/pool1?api-version=2022-10-01.16.0",
			ctype: "application/json; charset=utf-8", date: "Fri, 27 Nov 2026 23:45:57 GMT", sig: "H+57aNtfdn36G5/NNIdemUGEZbw3UCcQQIiQSTTL8uc="},
		{name: "BodylessPost", method: "POST", target: "/jobs/job1/tasks/task1/terminate?api-version=2022-10-01.16.0",
			ctype: "application/json; charset=utf-8", date: "Fri, 27 Nov 2026 23:45:58 GMT", sig: "yPc8HFjn+3nGIDCYhrdzx3M76jmlj8sQg74HiI2hs4I="},
		{name: "RangeAndEncodedPath", method: "GET", target: "/jobs/job1/tasks/task1/files/wd%2Fsub%20dir%2Fa.txt?api-version=2022-10-01.16.0",
			ctype: "application/json; charset=utf-8", date: "Fri, 27 Nov 2026 23:45:58 GMT", sig: "X3QO1cOZNdPhyc2SOiUJniCpFMHKZNeRpfgpjKz5kAs=",
			extra: map[string]string{"ocp-range": "bytes=0-4"}},
		{name: "IfMatch", method: "GET", target: "/pools/pool1?api-version=2022-10-01.16.0",
			ctype: "application/json; charset=utf-8", date: "Tue, 02 Jan 2024 03:04:05 GMT", sig: "Y+Jf6BMtPo9RxHWw6zUJ4rOER0u2k2hBJXWYgrbHDTw=",
			extra: map[string]string{"If-Match": "0x8DBABCDEF", "client-request-id": "11111111-2222-3333-4444-555555555555"}},
		{name: "Apostrophe", method: "HEAD", target: "/jobs/job1/tasks/task1/files/wd%2Fit%27s%20(1)!*~%23.txt?api-version=2022-10-01.16.0",
			ctype: "application/json; charset=utf-8", date: "Fri, 27 Nov 2026 23:46:27 GMT", sig: "TQfGuIwxGK5RYrY1DumPlOVQTlZO8b/Q3aZdRyQqt8U="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(strings.Repeat("x", tt.bodyLen)))
			r.ContentLength = int64(tt.bodyLen)
			r.Header.Set("Content-Type", tt.ctype)
			r.Header.Set("ocp-date", tt.date)
			for k, v := range tt.extra {
				r.Header.Set(k, v)
			}
			now, err := http.ParseTime(tt.date)
			require.NoError(t, err)
			require.NoError(t, Verify(r, "testacct", tt.sig, [][]byte{key}, now))
			require.ErrorIs(t, Verify(r, "testacct", tt.sig, [][]byte{key}, now.Add(20*time.Minute)), ErrStale)
			require.ErrorIs(t, Verify(r, "otheracct", tt.sig, [][]byte{key}, now), ErrSignature)
		})
	}
}

func TestSignThenVerify(t *testing.T) {
	t.Parallel()
	key, err := DecodeKey(sdkKey)
	require.NoError(t, err)
	other := []byte("another key")
	req, err := http.NewRequest("POST", "http://127.0.0.1:1/jobs/j1/tasks?api-version=2022-10-01.16.0&$filter=a%20eq%20%27b%27", strings.NewReader("{}"))
	require.NoError(t, err)
	Sign(req, "acct", key, 2)
	acct, sig, err := ParseSharedKey(req.Header.Get("Authorization"))
	require.NoError(t, err)
	require.Equal(t, "acct", acct)
	srv := httptest.NewRequest(req.Method, req.URL.RequestURI(), strings.NewReader("{}"))
	srv.Header = req.Header.Clone()
	require.NoError(t, Verify(srv, acct, sig, [][]byte{other, key}, time.Now()))
	require.ErrorIs(t, Verify(srv, acct, sig, [][]byte{other}, time.Now()), ErrSignature)
}

func TestDocumentedVectors(t *testing.T) {
	t.Parallel()
	key, err := DecodeKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	require.NoError(t, err)
	require.Equal(t, "XLuye1BKKjFUDAGzF92R6a0Qd/20dlPvLuFe1vUldT0=",
		Signature(key, "GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:Tue, 29 Jul 2014 21:49:13 GMT\n/myaccount/jobs\napi-version:2022-10-01.16.0\ntimeout:20"))
}
